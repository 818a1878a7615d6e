/// <reference types="vitest/config" />
/// <reference types="node" />
import react from "@vitejs/plugin-react";
import { gzipSync } from "node:zlib";
import { defineConfig, type Plugin } from "vite";

// Django serves dist/index.html for the app's routes and /static/... from dist/, so built asset
// URLs start with /static/. The dev server stays at / and forwards the API and websockets to
// Django's development server.
const django = "http://127.0.0.1:8000";

// Vite prints each chunk's gzipped size; this adds the whole JavaScript bundle's, the figure a
// first visit downloads at most (pages load lazily, so a visit usually needs less).
function totalGzippedJs(): Plugin {
  return {
    name: "trellis-total-gzipped-js",
    apply: "build",
    generateBundle(_options, bundle) {
      let raw = 0;
      let gzipped = 0;
      for (const chunk of Object.values(bundle)) {
        if (chunk.type === "chunk") {
          raw += Buffer.byteLength(chunk.code);
          gzipped += gzipSync(chunk.code).length;
        }
      }
      const kib = (n: number) => (n / 1024).toFixed(1);
      this.info(`JavaScript bundle: ${kib(raw)} KiB, ${kib(gzipped)} KiB gzipped`);
    },
  };
}

export default defineConfig(({ command }) => ({
  base: command === "build" ? "/static/" : "/",
  plugins: [react(), totalGzippedJs()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    reportCompressedSize: true,
  },
  server: {
    proxy: {
      "/api": { target: django, changeOrigin: false },
      "/ws": { target: django.replace(/^http/, "ws"), ws: true },
    },
  },
  test: {
    include: ["src/**/*.test.ts"],
    environment: "node",
  },
}));
