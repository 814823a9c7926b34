import { randomBytes } from 'node:crypto';

/** A fresh per-job secret: 32 random bytes as 64 lowercase hex characters (`DTRAIN_TOKEN`). */
export function newToken(): string {
  return randomBytes(32).toString('hex');
}

/**
 * A fresh job id: 16 lowercase hex characters (`DTRAIN_JOB_ID`). Kept short because it becomes
 * part of shared-memory segment names, and hex so it is safe in any file or object name.
 */
export function newJobId(): string {
  return randomBytes(8).toString('hex');
}
