import { defineConfig } from "vite";

// Served by the gateway under /app/.
export default defineConfig({
  base: "/app/",
  esbuild: { jsx: "automatic" },
});
