import { GlobalStyles } from "@bigcommerce/big-design";
import { theme } from "@bigcommerce/big-design-theme";
import { Provider } from "@gadgetinc/react-bigcommerce";
import { Suspense } from "react";
import { createRoot } from "react-dom/client";
import { ThemeProvider } from "styled-components";
import { api } from "./api.js";
import { App, Loading } from "./App.jsx";

createRoot(document.getElementById("root")).render(
  <ThemeProvider theme={theme}>
    <GlobalStyles />
    <Suspense fallback={<Loading label="Signing in…" />}>
      <Provider api={api}>
        <App />
      </Provider>
    </Suspense>
  </ThemeProvider>,
);
