/// <reference types="vitest/config" />
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// Django serves dist/index.html for the app's routes and /static/... from dist/, so built asset
// URLs start with /static/. The dev server stays at / and forwards the API and websockets to
// Django's development server.
const django = "http://127.0.0.1:8000";

export default defineConfig(({ command }) => ({
  base: command === "build" ? "/static/" : "/",
  plugins: [react()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // Report sizes of the gzipped bundle (vite prints them per chunk).
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
