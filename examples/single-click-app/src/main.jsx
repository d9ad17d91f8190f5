import { GadgetConnection } from "@gadgetinc/api-client-core";
import { useQuery } from "@gadgetinc/react";
import { Provider, useGadget } from "@gadgetinc/react-bigcommerce";
import { Suspense, useState } from "react";
import { createRoot } from "react-dom/client";

// The gateway serves this page, so the API is on the same origin.
const connection = new GadgetConnection({ endpoint: `${window.location.origin}/api/graphql` });
const api = {
  connection,
  query: (query, variables) => connection.currentClient.query(query, variables).toPromise(),
  mutate: (query, variables) => connection.currentClient.mutation(query, variables).toPromise(),
  internal: {},
};

const PRODUCTS = `
  query Products($first: Int, $after: String, $search: String) {
    bigcommerce {
      products(first: $first, after: $after, search: $search, sort: {name: Ascending}) {
        pageInfo { hasNextPage endCursor }
        edges { node { id name price } }
      }
    }
  }
`;

function Products() {
  const [search, setSearch] = useState("");
  const [cursors, setCursors] = useState([]);
  const after = cursors[cursors.length - 1];
  const [{ data, fetching, error }] = useQuery({
    query: PRODUCTS,
    variables: { first: 10, after, search: search || undefined },
  });
  const page = data?.bigcommerce?.products;
  return (
    <main>
      <input
        aria-label="Search products"
        placeholder="Search products"
        value={search}
        onChange={(e) => {
          setSearch(e.target.value);
          setCursors([]);
        }}
      />
      {error && <p role="alert">{error.message}</p>}
      {fetching && !page && <p>Loading…</p>}
      <ul data-testid="products">
        {page?.edges.map(({ node }) => (
          <li key={node.id} data-testid="product">
            {node.name}
          </li>
        ))}
      </ul>
      <button disabled={cursors.length === 0} onClick={() => setCursors(cursors.slice(0, -1))}>
        Previous
      </button>
      <button disabled={!page?.pageInfo.hasNextPage} onClick={() => setCursors([...cursors, page.pageInfo.endCursor])}>
        Next
      </button>
    </main>
  );
}

function App() {
  const { loading, isAuthenticated, storeHash } = useGadget();
  if (loading) return <p>Signing in…</p>;
  if (!isAuthenticated) return <p>Open this app from your BigCommerce control panel.</p>;
  return (
    <>
      <h1 data-testid="store">Store {storeHash}</h1>
      <Suspense fallback={<p>Loading…</p>}>
        <Products />
      </Suspense>
    </>
  );
}

createRoot(document.getElementById("root")).render(
  <Suspense fallback={<p>Signing in…</p>}>
    <Provider api={api}>
      <App />
    </Provider>
  </Suspense>,
);
