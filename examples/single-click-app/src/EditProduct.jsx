import { Form, FormGroup, Input, Message, Modal } from "@bigcommerce/big-design";
import { useAction } from "@gadgetinc/react";
import { useState } from "react";
import { api } from "./api.js";

/** A modal that saves a product's name and price with the model's `update` action. */
export function EditProduct({ product, onClose }) {
  const [name, setName] = useState(product.name ?? "");
  const [price, setPrice] = useState(product.price == null ? "" : String(product.price));
  const [{ fetching, error }, update] = useAction(api.bigcommerce.product.update);
  const priceValue = price.trim() === "" ? null : Number(price);
  const invalid = name.trim() === "" ? "A product needs a name." : Number.isNaN(priceValue) ? "The price is not a number." : null;

  const save = async () => {
    if (invalid) return;
    const result = await update({ id: product.id, name: name.trim(), price: priceValue });
    // The table is live: it shows the saved record by itself.
    if (!result.error) onClose();
  };

  return (
    <Modal
      isOpen
      header={`Edit ${product.name}`}
      onClose={onClose}
      closeOnEscKey
      actions={[
        { text: "Cancel", variant: "subtle", onClick: onClose },
        { text: "Save", isLoading: fetching, disabled: !!invalid, onClick: save, "data-testid": "save-product" },
      ]}
    >
      {error && (
        <div data-testid="edit-error">
          <Message type="error" header="Not saved" messages={[{ text: error.message }]} marginBottom="medium" />
        </div>
      )}
      <Form
        data-testid="edit-form"
        onSubmit={(e) => {
          e.preventDefault();
          save();
        }}
      >
        <FormGroup>
          <Input
            label="Name"
            required
            value={name}
            error={name.trim() === "" ? "A product needs a name." : undefined}
            onChange={(e) => setName(e.target.value)}
            data-testid="product-name-input"
          />
        </FormGroup>
        <FormGroup>
          <Input
            label="Price"
            type="number"
            step="0.01"
            min="0"
            iconLeft="$"
            value={price}
            onChange={(e) => setPrice(e.target.value)}
            data-testid="product-price-input"
          />
        </FormGroup>
        <button type="submit" hidden />
      </Form>
    </Modal>
  );
}
