import { Badge, Box, Button, Flex, FlexItem, H1, Message, Panel, ProgressCircle, StatusMessage, Text } from "@bigcommerce/big-design";
import { StoreIcon } from "@bigcommerce/big-design-icons";
import { useFindMany, useGlobalAction, useSession } from "@gadgetinc/react";
import { useGadget } from "@gadgetinc/react-bigcommerce";
import { Suspense } from "react";
import { api } from "./api.js";
import { Products } from "./Products.jsx";

export function Loading({ label }) {
  return (
    <Flex justifyContent="center" alignItems="center" padding="xxLarge" data-testid="loading">
      <ProgressCircle size="large" />
      <Text marginLeft="medium" marginBottom="none">
        {label}
      </Text>
    </Flex>
  );
}

export function App() {
  const { loading, isAuthenticated, error } = useGadget();
  if (loading) return <Loading label="Signing in…" />;
  if (!isAuthenticated) {
    return (
      <StatusMessage
        variant="unauthorized"
        heading="Not signed in"
        message={error ? error.message : "Open this app from your BigCommerce control panel."}
      />
    );
  }
  return (
    <Box backgroundColor="secondary10" padding="xLarge" style={{ minHeight: "100vh" }}>
      <Suspense fallback={<Loading label="Loading…" />}>
        <Header />
        <Sync />
        <Products />
      </Suspense>
    </Box>
  );
}

/** The signed-in store, from the session the control panel's signed payload opened. */
function Header() {
  // Suspends until the session is read; the store comes along in the same request.
  const session = useSession(api, {
    select: { id: true, bigcommerceUserId: true, bigcommerceStore: { storeHash: true } },
  });
  const hash = session.bigcommerceStore?.storeHash;
  return (
    <Flex alignItems="center" justifyContent="space-between" marginBottom="large">
      <FlexItem>
        <H1 marginBottom="none">Products</H1>
      </FlexItem>
      <FlexItem>
        <Flex alignItems="center">
          <StoreIcon color="secondary60" />
          <Text marginLeft="xSmall" marginBottom="none" data-testid="store">
            Store {hash}
          </Text>
          {session.bigcommerceUserId && (
            <Badge marginLeft="small" variant="secondary" label={`user ${session.bigcommerceUserId}`} />
          )}
        </Flex>
      </FlexItem>
    </Flex>
  );
}

const SYNC_BADGES = {
  created: "secondary",
  running: "warning",
  completed: "success",
  errored: "danger",
  aborted: "secondary",
};

/**
 * The store's last sync, live, and a button that starts another through the
 * `bigcommerce.syncStore` global action (a merchant's session may run it for its own store).
 */
function Sync() {
  const [{ data: syncs }] = useFindMany(api.bigcommerce.sync, {
    first: 1,
    sort: { createdAt: "Descending" },
    live: true,
    select: { id: true, state: true, finishedAt: true },
  });
  const [{ data: started, fetching, error }, syncStore] = useGlobalAction(api.bigcommerce.syncStore);
  const last = syncs?.[0];
  return (
    <Panel
      header="Catalog sync"
      description="Products arrive from BigCommerce by webhooks as they change; a sync reads the whole catalog again."
      action={{
        text: "Sync now",
        variant: "secondary",
        isLoading: fetching,
        disabled: last?.state === "created" || last?.state === "running",
        onClick: () => syncStore({}),
        "data-testid": "sync",
      }}
      badge={last ? { label: `last sync ${last.state}`, variant: SYNC_BADGES[last.state] ?? "secondary" } : undefined}
    >
      {started && (
        <div data-testid="sync-started">
          <Message type="success" messages={[{ text: `Sync ${started.syncId} of store ${started.storeHash} started.` }]} />
        </div>
      )}
      {error && <Message type="error" header="The sync did not start" messages={[{ text: error.message }]} />}
      {!started && !error && (
        <Text color="secondary60" marginBottom="none">
          {last ? `The last sync is ${last.state}.` : "No sync has run yet."}
        </Text>
      )}
    </Panel>
  );
}
