import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Plugin } from 'vite';
import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';
import tailwindcss from '@tailwindcss/vite';
import { parseReplayReasons, parseWebhookReasons } from './src/lib/reasonDocs.ts';

// The Go server that `npm run dev` proxies API calls to.
const backend = process.env.CALLBACKD_URL ?? 'http://127.0.0.1:8080';

// sonnerWithoutInjectedStyles stops sonner from inserting a <style> element at
// import time: the Content-Security-Policy (style-src 'self') blocks it. The
// same rules come from sonner/dist/styles.css, imported in main.tsx, so they
// end up in the built CSS file. The build fails if sonner changes the call we
// remove, so an upgrade cannot silently bring the injection back.
function sonnerWithoutInjectedStyles(): Plugin {
  return {
    name: 'callbackd:sonner-without-injected-styles',
    enforce: 'pre',
    transform(code, id) {
      if (!/[\\/]sonner[\\/]dist[\\/]index\.m?js$/.test(id)) return null;
      const call = /^__insertCSS\(/m;
      if (!call.test(code)) {
        this.error('sonner no longer calls __insertCSS at the top level: re-check how it injects styles (CSP)');
      }
      return { code: code.replace(call, 'void ('), map: null };
    },
  };
}

// webhookReasons makes virtual:webhook-reasons: the webhook's refusal
// reasons as docs/errors.md explains them, read at build time, so that the UI
// never holds a hand-made copy of the docs. The build fails if the docs lose
// the table; the committed build goes stale (web_test.go) when it changes.
function webhookReasons(): Plugin {
  const id = 'virtual:webhook-reasons';
  const docs = fileURLToPath(new URL('../docs/errors.md', import.meta.url));
  return {
    name: 'callbackd:webhook-reasons',
    resolveId: (source) => (source === id ? '\0' + id : null),
    load(loaded) {
      if (loaded !== '\0' + id) return null;
      this.addWatchFile(docs);
      const reasons = parseWebhookReasons(readFileSync(docs, 'utf8'));
      if (!reasons.signature_mismatch) this.error(`${docs}: no webhook table with signature_mismatch; re-check parseWebhookReasons`);
      return `export default ${JSON.stringify(reasons)};`;
    },
  };
}

// replayReasons makes virtual:replay-reasons: ReplayCallback's refusals and
// failures as docs/errors.md explains them, for the "Replay to…" form, read
// at build time like virtual:webhook-reasons.
function replayReasons(): Plugin {
  const id = 'virtual:replay-reasons';
  const docs = fileURLToPath(new URL('../docs/errors.md', import.meta.url));
  return {
    name: 'callbackd:replay-reasons',
    resolveId: (source) => (source === id ? '\0' + id : null),
    load(loaded) {
      if (loaded !== '\0' + id) return null;
      this.addWatchFile(docs);
      const reasons = parseReplayReasons(readFileSync(docs, 'utf8'));
      if (!reasons.replay_target_forbidden) this.error(`${docs}: no ReplayCallback table with replay_target_forbidden; re-check parseReplayReasons`);
      return `export default ${JSON.stringify(reasons)};`;
    },
  };
}

// The UI uses the TypeScript client's sources, @callbackd/client in
// clients/ts (tsconfig.json has the same paths). dedupe resolves the
// client's own imports of the Connect and protobuf runtimes from web/, so the
// bundle holds one copy of each whether or not clients/ts has node_modules.
const client = (file: string) => fileURLToPath(new URL(`../clients/ts/src/${file}`, import.meta.url));

export default defineConfig({
  plugins: [sonnerWithoutInjectedStyles(), webhookReasons(), replayReasons(), react(), tailwindcss()],
  resolve: {
    alias: [
      { find: /^@callbackd\/client$/, replacement: client('index.ts') },
      { find: /^@callbackd\/client\/web$/, replacement: client('web.ts') },
    ],
    dedupe: ['@bufbuild/protobuf', '@connectrpc/connect', '@connectrpc/connect-web'],
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // No inline scripts (CSP script-src 'self'): every browser we support
    // has modulepreload, so the polyfill is not needed.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: false,
    reportCompressedSize: false,
  },
  server: {
    proxy: {
      '/callbacks.v1.': backend,
      '/api/': backend,
      '/healthz': backend,
    },
  },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
});
