// Validates the settings before anything is built or started, with the server's own rules.
// When dist/ is up to date its config.js is used as is. Otherwise src/config.ts (and what it
// imports from src/) is compiled in memory with TypeScript's transpileModule, which needs no
// build and no type check (loading TypeScript costs about half a second more), and run.
import { existsSync, readFileSync } from "node:fs";
import { createRequire, Module } from "node:module";
import path from "node:path";
import process from "node:process";
import vm from "node:vm";

const requireHere = createRequire(import.meta.url);
let typescript;

/** Loads a TypeScript module and its relative imports from source; packages come from node_modules. */
function loadTs(file, cache = new Map()) {
  const cached = cache.get(file);
  if (cached) return cached.exports;
  const module = { exports: {} };
  cache.set(file, module);
  // Loaded only when needed: it is the slow part.
  typescript ??= requireHere("typescript");
  const { outputText } = typescript.transpileModule(readFileSync(file, "utf8"), {
    compilerOptions: {
      module: typescript.ModuleKind.CommonJS,
      target: typescript.ScriptTarget.ES2022,
      esModuleInterop: true,
      experimentalDecorators: true,
      useDefineForClassFields: false,
    },
    fileName: file,
  });
  const requirePackage = createRequire(file);
  const require = (specifier) => {
    if (!specifier.startsWith(".")) return requirePackage(specifier);
    const base = path.resolve(path.dirname(file), specifier);
    const source = [`${base}.ts`, path.join(base, "index.ts")].find((f) => existsSync(f));
    return source ? loadTs(source, cache) : requirePackage(specifier);
  };
  const wrapper = vm.runInThisContext(Module.wrap(outputText), { filename: file });
  wrapper.call(module.exports, module.exports, require, module, file, path.dirname(file));
  return module.exports;
}

/**
 * `{ config }` when the environment is valid, else `{ problems }`: one line per problem.
 * `compiled`: the built config.js, when it is known to match the sources.
 */
export function checkConfig(root, { env = process.env, compiled } = {}) {
  const { loadConfig } = compiled
    ? requireHere(compiled)
    : loadTs(path.join(root, "src", "config.ts"));
  try {
    return { config: loadConfig(env) };
  } catch (error) {
    if (error?.name === "ConfigError" && Array.isArray(error.problems)) {
      return { problems: error.problems };
    }
    throw error;
  }
}
