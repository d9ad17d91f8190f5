import { Client } from "@gadget-client/bcgraph-example";

// The gateway serves this page, so the API is on the same origin. The
// @gadgetinc/react-bigcommerce provider switches the client to the control panel's
// signed payload once it has read it from the URL.
export const api = new Client({ endpoint: `${window.location.origin}/api/graphql` });
