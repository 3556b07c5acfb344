#!/usr/bin/env node
// `npx zpd …`: zpd runs from its TypeScript sources (DESIGN §1), so the bin registers tsx's loader first.
import { register } from "tsx/esm/api"

register()
await import("../src/main.ts")
