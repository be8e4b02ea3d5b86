export { InMemoryRuntime, type InMemoryBehaviour, type InMemoryRuntimeOptions } from './testing/in-memory-runtime.js';
