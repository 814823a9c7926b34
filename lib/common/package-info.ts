import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The package's name and version, read once from its package.json. */
export interface PackageInfo {
  name: string;
  version: string;
}

let info: PackageInfo | undefined;

/** This package's package.json fields that the CLI prints. */
export function packageInfo(): PackageInfo {
  info ??= JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as PackageInfo;
  return info;
}
