import type { Plugin } from 'vite';
import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';
import tailwindcss from '@tailwindcss/vite';

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

export default defineConfig({
  plugins: [sonnerWithoutInjectedStyles(), react(), tailwindcss()],
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
