/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import solid from "vite-plugin-solid";

// `npm run dev` proxies the API to a running server (scripts/run: 127.0.0.1:8080).
const api = process.env.PETIT_CHAT_URL ?? "http://127.0.0.1:8080";

export default defineConfig({
  plugins: [solid()],
  build: { target: "es2022", sourcemap: false, modulePreload: { polyfill: false } },
  server: { proxy: { "/api": { target: api, changeOrigin: false } } },
  // Unit tests of the client's state (src/**/*.test.ts) run in Node with Solid's browser
  // build (its server build does not react); the browser tests are in e2e/ (node --test).
  resolve: process.env.VITEST ? { conditions: ["browser", "development"] } : {},
  test: { include: ["src/**/*.test.ts"], environment: "node", server: { deps: { inline: [/solid-js/] } } },
});
