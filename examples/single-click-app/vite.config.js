import { defineConfig } from "vite";

// Served by the gateway under /app/.
export default defineConfig({
  base: "/app/",
  esbuild: { jsx: "automatic" },
  build: {
    // BigDesign's modules begin with React's "use client", which means nothing in a
    // single-page bundle; the bundler warns about each one.
    rollupOptions: {
      onwarn(warning, warn) {
        if (warning.code === "MODULE_LEVEL_DIRECTIVE") return;
        warn(warning);
      },
    },
    // BigDesign, styled-components and the Gadget hooks make one bundle of about 650 kB
    // (under 200 kB gzipped); an example app does not split it.
    chunkSizeWarningLimit: 1000,
  },
});
