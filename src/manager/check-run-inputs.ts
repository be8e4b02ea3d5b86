import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import path from 'node:path';
import { ValidationError } from '../errors/validation-error.js';

/** The dataDirectory must be a writable folder, or creatable under a writable folder. Creates nothing. */
export async function checkDataDirectory(dataDirectory: string): Promise<void> {
  let probe = dataDirectory;
  for (;;) {
    const info = await stat(probe).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return undefined;
      throw new ValidationError('dataDirectory', dataDirectory, `Cannot use \`dataDirectory\` '${dataDirectory}': ${error.message}.`, { cause: error });
    });
    if (info !== undefined) {
      if (!info.isDirectory()) {
        throw new ValidationError(
          'dataDirectory',
          dataDirectory,
          probe === dataDirectory
            ? `\`dataDirectory\` '${dataDirectory}' is a file, not a folder. Choose a folder path.`
            : `\`dataDirectory\` '${dataDirectory}' cannot be created: '${probe}' is a file.`,
        );
      }
      try {
        await access(probe, constants.W_OK | constants.X_OK);
      } catch (error) {
        throw new ValidationError(
          'dataDirectory',
          dataDirectory,
          `\`dataDirectory\` '${dataDirectory}' is not writable by this user${probe === dataDirectory ? '' : ` (its nearest existing parent '${probe}' is not)`}. Choose a folder you own or fix its permissions.`,
          { cause: error },
        );
      }
      return;
    }
    const parent = path.dirname(probe);
    if (parent === probe) return;
    probe = parent;
  }
}
