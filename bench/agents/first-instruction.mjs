#!/usr/bin/env node
// Bench agent (B7): its first instruction writes the wall-clock time (ms, sub-ms resolution, the same
// expression as the bench process's) to ./first-instruction, then it exits.
import { writeFileSync } from 'node:fs';

writeFileSync('first-instruction', String(performance.timeOrigin + performance.now()));
