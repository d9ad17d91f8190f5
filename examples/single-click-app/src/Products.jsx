import { Box, Button, Message, Panel, ProgressCircle, Search, StatusMessage, Table, Text } from "@bigcommerce/big-design";
import { EditIcon } from "@bigcommerce/big-design-icons";
import { useFindMany } from "@gadgetinc/react";
import { useEffect, useState } from "react";
import { api } from "./api.js";
import { EditProduct } from "./EditProduct.jsx";

const PAGE_SIZES = [5, 10, 25, 50];
const SELECT = { id: true, name: true, sku: true, price: true, inventoryLevel: true };
const money = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD" });

/** `value`, once it has stopped changing for `ms`: a search per pause, not per key. */
function useSettled(value, ms) {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return settled;
}

/**
 * The store's products: searched, sorted by a column, paged by cursor. The query is
 * live, so a change made anywhere (this page, a webhook from BigCommerce, a sync)
 * shows without reloading.
 */
export function Products() {
  const [typed, setTyped] = useState("");
  const search = useSettled(typed.trim(), 250);
  const [sort, setSort] = useState({ columnHash: "name", direction: "ASC" });
  const [pageSize, setPageSize] = useState(PAGE_SIZES[0]);
  // The `after` cursors of the pages before this one; a new search, order or page size
  // starts from the first page again.
  const [cursors, setCursors] = useState([]);
  useEffect(() => setCursors([]), [search, sort, pageSize]);
  const [editing, setEditing] = useState(null);

  const [{ data, fetching, error }] = useFindMany(api.bigcommerce.product, {
    search: search || undefined,
    sort: { [sort.columnHash]: sort.direction === "ASC" ? "Ascending" : "Descending" },
    first: pageSize,
    after: cursors[cursors.length - 1],
    live: true,
    select: SELECT,
  });
  const products = data ? data.map((record) => record.toJSON()) : [];

  const columns = [
    {
      header: "Name",
      hash: "name",
      isSortable: true,
      render: (p) => (
        <Text bold marginBottom="none" data-testid="product">
          {p.name}
        </Text>
      ),
    },
    {
      header: "SKU",
      hash: "sku",
      isSortable: true,
      render: (p) => <span data-testid="product-sku">{p.sku ?? "—"}</span>,
    },
    {
      header: "Price",
      hash: "price",
      isSortable: true,
      align: "right",
      render: (p) => <span data-testid="product-price">{p.price == null ? "—" : money.format(p.price)}</span>,
    },
    {
      header: "Inventory",
      hash: "inventoryLevel",
      isSortable: true,
      align: "right",
      render: (p) => <span data-testid="product-inventory">{p.inventoryLevel ?? "—"}</span>,
    },
    {
      header: "Edit",
      hideHeader: true,
      hash: "edit",
      align: "right",
      render: (p) => (
        <Button
          variant="subtle"
          iconOnly={<EditIcon title={`Edit ${p.name}`} />}
          aria-label={`Edit ${p.name}`}
          data-testid="edit-product"
          onClick={() => setEditing(p)}
        />
      ),
    },
  ];

  return (
    <Panel header="Catalog" description="Products of this store as bcgraph holds them.">
      <Box marginBottom="medium">
        <Search
          aria-label="Search products"
          placeholder="Search products"
          value={typed}
          onChange={(e) => setTyped(e.target.value)}
          onSubmit={() => setTyped(typed)}
        />
      </Box>
      {error && (
        <div data-testid="error">
          <Message type="error" header="The products could not be read" messages={[{ text: error.message }]} marginBottom="medium" />
        </div>
      )}
      {!data && fetching ? (
        <Box padding="xxLarge" style={{ textAlign: "center" }} data-testid="products-loading">
          <ProgressCircle size="large" />
        </Box>
      ) : (
        <Table
          data-testid="products"
          itemName="Products"
          columns={columns}
          items={products}
          keyField="id"
          stickyHeader
          sortable={{
            columnHash: sort.columnHash,
            direction: sort.direction,
            onSort: (columnHash, direction) => setSort({ columnHash, direction }),
          }}
          pagination={{
            itemsPerPage: pageSize,
            itemsPerPageOptions: PAGE_SIZES,
            onItemsPerPageChange: setPageSize,
            onPrevious: cursors.length > 0 ? () => setCursors(cursors.slice(0, -1)) : undefined,
            onNext: data?.hasNextPage ? () => setCursors([...cursors, data.endCursor]) : undefined,
          }}
          emptyComponent={
            <div data-testid="empty">
              <StatusMessage
                size="panel"
                variant={search ? "search" : "info"}
                heading="No products"
                message={search ? `No product matches “${search}”.` : "This store has no products yet."}
              />
            </div>
          }
        />
      )}
      {editing && <EditProduct product={editing} onClose={() => setEditing(null)} />}
    </Panel>
  );
}
