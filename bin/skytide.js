#!/usr/bin/env node
// The `skytide` bin. The sources are TypeScript run directly by Node 22's type stripping (no build step).
import '../long-runners/cli/main.ts';
