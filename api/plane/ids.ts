// Plane's ids in its payloads: UUIDs as strings, sequence numbers as numbers; accepted either way
// where Plane's own types vary.
import { z } from 'zod';

export const idLike = z.union([z.string().trim().min(1).max(100), z.number().int().nonnegative()]).transform(String);
