//! `index.d.ts`: a TypeScript type for every type of the served schema (records,
//! selections, filters, sorts, inputs, enums), and the managers and client typed with
//! them through the generic types of `runtime.d.ts`.

use super::metadata::{ClientMeta, ModelMeta};
use super::sdl::{Kind, Sdl, named};
use async_graphql::parser::types::{BaseType, Type};
use std::collections::BTreeMap;
use std::fmt::Write;

/// Scalars GraphQL defines or the gateway adds, as TypeScript sees them.
fn scalar(name: &str, input: bool) -> &'static str {
    match name {
        "String" | "GadgetID" | "ID" => "string",
        "Int" | "Float" => "number",
        "Boolean" => "boolean",
        "DateTime" if input => "Date | string",
        "DateTime" => "Date",
        "JSONObject" => "Record<string, any>",
        _ => "any",
    }
}

fn ts_type(sdl: &Sdl, ty: &Type, input: bool) -> String {
    let inner = match &ty.base {
        BaseType::Named(n) => match sdl.get(n).map(|t| &t.kind) {
            None | Some(Kind::Scalar) => scalar(n, input).to_owned(),
            Some(_) => n.to_string(),
        },
        BaseType::List(item) => format!("Array<{}>", ts_type(sdl, item, input)),
    };
    if ty.nullable {
        format!("{inner} | null")
    } else {
        inner
    }
}

fn selection_type(sdl: &Sdl, ty: &Type) -> String {
    let name = named(ty);
    match sdl.get(name).map(|t| &t.kind) {
        Some(Kind::Object) | Some(Kind::Interface) => format!("boolean | null | Available{name}Selection"),
        Some(Kind::Union(_)) => "boolean | null | rt.FieldSelection".to_owned(),
        _ => "boolean | null".to_owned(),
    }
}

/// The TypeScript of every schema type, sorted by name.
fn schema_types(sdl: &Sdl, out: &mut String) {
    for (name, t) in &sdl.types {
        if name.starts_with("__") {
            continue;
        }
        match &t.kind {
            Kind::Scalar => {}
            Kind::Enum(values) => {
                let values: Vec<String> = values.iter().map(|v| format!("\"{v}\"")).collect();
                let _ = writeln!(out, "export type {name} = {};\n", values.join(" | "));
            }
            Kind::Union(members) => {
                let _ = writeln!(out, "export type {name} = {};\n", members.join(" | "));
                let _ = writeln!(out, "export type Available{name}Selection = rt.FieldSelection;\n");
            }
            Kind::Input => {
                let _ = writeln!(out, "export interface {name} {{");
                for f in &t.fields {
                    let optional = if f.ty.nullable { "?" } else { "" };
                    let _ = writeln!(out, "  {}{optional}: {};", f.name, ts_type(sdl, &f.ty, true));
                }
                let _ = writeln!(out, "}}\n");
            }
            Kind::Object | Kind::Interface => {
                let typename = match t.kind {
                    Kind::Object => format!("\"{name}\""),
                    _ => "string".to_owned(),
                };
                let _ = writeln!(out, "export interface {name} {{\n  __typename: {typename};");
                for f in &t.fields {
                    let _ = writeln!(out, "  {}: {};", f.name, ts_type(sdl, &f.ty, false));
                }
                let _ = writeln!(out, "}}\n");
                let _ = writeln!(
                    out,
                    "export interface Available{name}Selection {{\n  __typename?: boolean | null;"
                );
                for f in &t.fields {
                    let _ = writeln!(out, "  {}?: {};", f.name, selection_type(sdl, &f.ty));
                }
                let _ = writeln!(out, "}}\n");
            }
        }
    }
}

/// `{ readonly __typename: true; readonly id: true; ... }` for a default selection.
fn selection_literal(selection: &serde_json::Value) -> String {
    match selection {
        serde_json::Value::Object(map) => {
            let fields: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("readonly {k}: {}", selection_literal(v)))
                .collect();
            format!("{{ {} }}", fields.join("; "))
        }
        _ => "true".to_owned(),
    }
}

fn pascal_field(field: &str) -> String {
    let mut chars = field.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The prefix of a model's type names: `BigcommerceProduct`.
pub(crate) fn model_prefix(model: &ModelMeta) -> &str {
    &model.record_type
}

fn model_types(model: &ModelMeta, out: &mut String) {
    let p = model_prefix(model);
    let input_of = |function: &str| {
        model
            .actions
            .iter()
            .find(|a| a.generic && a.function_name == function)
            .and_then(|a| a.input_type.clone())
            .unwrap_or_else(|| "never".to_owned())
    };
    let _ = writeln!(
        out,
        "/** The types of the `{key}` model, for the generic managers. */\nexport interface {p}Types extends rt.ModelTypes {{\n  key: \"{key}\";\n  record: {record};\n  selection: Available{record}Selection;\n  defaults: typeof Default{p}Selection;\n  filter: {filter};\n  sort: {sort};\n  create: {create};\n  update: {update};\n  upsert: {upsert};\n}}\n",
        key = model.api_id,
        record = model.record_type,
        filter = model.filter_type.as_deref().unwrap_or("never"),
        sort = model.sort_type.as_deref().unwrap_or("never"),
        create = input_of("create"),
        update = input_of("update"),
        upsert = input_of("upsert"),
    );
    let _ = writeln!(
        out,
        "/** A `{key}` record as a call with `Options` returns it (the default selection when `Options` selects nothing). */\nexport type {p}Record<Options = {{}}> = rt.RecordOf<{p}Types, Options>;\n",
        key = model.api_id
    );
    let t = format!("{p}Types");
    let _ = writeln!(out, "/** `api.{}` */", dotted(model));
    let _ = writeln!(
        out,
        "export interface {p}Manager {{\n  connection: GadgetConnection;"
    );
    let _ = writeln!(
        out,
        "  findOne: rt.FindOneFunction<{t}>;\n  maybeFindOne: rt.MaybeFindOneFunction<{t}>;"
    );
    let _ = writeln!(
        out,
        "  findMany: rt.FindManyFunction<{t}>;\n  findFirst: rt.FindFirstFunction<{t}>;\n  maybeFindFirst: rt.MaybeFindFirstFunction<{t}>;"
    );
    for field in &model.find_by {
        let f = pascal_field(field);
        let _ = writeln!(
            out,
            "  findBy{f}: rt.FindByFunction<{t}>;\n  maybeFindBy{f}: rt.MaybeFindByFunction<{t}>;"
        );
    }
    for action in &model.actions {
        let function = match (action.generic, action.function_name.as_str()) {
            (true, "create") => "CreateFunction",
            (true, "update") => "UpdateFunction",
            (true, "delete") => "DeleteFunction",
            (true, "upsert") => "UpsertFunction",
            (true, "bulkCreate") => "BulkCreateFunction",
            (true, "bulkUpdate") => "BulkUpdateFunction",
            (true, "bulkUpsert") => "BulkUpsertFunction",
            (true, "bulkDelete") => "BulkDeleteFunction",
            _ => "ModelActionFunction",
        };
        let _ = writeln!(out, "  {}: rt.{function}<{t}>;", action.function_name);
    }
    let _ = writeln!(out, "}}\n");
}

fn dotted(model: &ModelMeta) -> String {
    match &model.namespace {
        Some(ns) => format!("{ns}.{}", model.api_id),
        None => model.api_id.clone(),
    }
}

/// A node of the client's tree: `bigcommerce: { product: ...; syncStore: ... }`.
#[derive(Default)]
struct Tree {
    members: BTreeMap<String, String>,
    children: BTreeMap<String, Tree>,
}

impl Tree {
    fn at(&mut self, namespace: &Option<String>) -> &mut Tree {
        match namespace {
            Some(ns) => self.children.entry(ns.clone()).or_default(),
            None => self,
        }
    }

    fn write(&self, out: &mut String, indent: usize) {
        let pad = " ".repeat(indent);
        for (name, child) in &self.children {
            let _ = writeln!(out, "{pad}{name}: {{");
            child.write(out, indent + 2);
            let _ = writeln!(out, "{pad}}};");
        }
        for (name, ty) in &self.members {
            let _ = writeln!(out, "{pad}{name}: {ty};");
        }
    }
}

fn variables_type(sdl: &Sdl, variables: &[(String, Type)]) -> String {
    if variables.is_empty() {
        return "Record<string, never>".to_owned();
    }
    let fields: Vec<String> = variables
        .iter()
        .map(|(name, ty)| {
            let optional = if ty.nullable { "?" } else { "" };
            format!("{name}{optional}: {}", ts_type(sdl, ty, true))
        })
        .collect();
    format!("{{ {} }}", fields.join("; "))
}

pub(crate) fn index_d_ts(sdl: &Sdl, meta: &ClientMeta, header: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{header}");
    let _ = writeln!(
        out,
        "import type {{ GadgetConnection, InternalModelManager }} from \"@gadgetinc/api-client-core\";\nimport type * as rt from \"./runtime.js\";\nexport {{ AuthenticationMode }} from \"@gadgetinc/api-client-core\";\nexport type {{ ClientOptions, EnqueueOptions, FieldSelection, Select, Selected, GadgetRecord, GadgetRecordList }} from \"./runtime.js\";\nexport {{ ClientError }} from \"./runtime.js\";\n"
    );
    schema_types(sdl, &mut out);
    let mut tree = Tree::default();
    let mut internal = Tree::default();
    for model in &meta.models {
        let p = model_prefix(model);
        let _ = writeln!(
            out,
            "/** The fields a `{}` call fetches when it selects nothing. */\nexport declare const Default{p}Selection: {};\n",
            model.api_id,
            selection_literal(&model.selection())
        );
        model_types(model, &mut out);
        tree.at(&model.namespace)
            .members
            .insert(model.api_id.clone(), format!("{p}Manager"));
        internal
            .at(&model.namespace)
            .members
            .insert(model.api_id.clone(), "InternalModelManager".to_owned());
    }
    for global in &meta.globals {
        let args = sdl_args(sdl, global.namespace.as_deref(), &global.name);
        tree.at(&global.namespace).members.insert(
            global.name.clone(),
            format!("rt.GlobalActionFunction<{}>", variables_type(sdl, &args)),
        );
    }
    if let Some((session_type, selection)) = &meta.session {
        let _ = writeln!(
            out,
            "/** The fields `currentSession.get()` fetches when it selects nothing. */\nexport declare const DefaultSessionSelection: {};\n",
            selection_literal(selection)
        );
        tree.members.insert(
            "currentSession".to_owned(),
            format!("rt.CurrentSessionManager<{session_type}, typeof DefaultSessionSelection>"),
        );
        tree.members.insert(
            "session".to_owned(),
            "{ connection: GadgetConnection; modelApiIdentifier: \"session\" }".to_owned(),
        );
    }
    let _ = writeln!(
        out,
        "/**\n * The app's API client: `new Client({{ endpoint, authenticationMode: {{ apiKey }} }})`.\n */\nexport declare class Client extends rt.BaseClient {{\n  constructor(options: rt.ClientOptions);"
    );
    tree.write(&mut out, 2);
    let _ = writeln!(out, "  internal: {{");
    internal.write(&mut out, 4);
    let _ = writeln!(out, "  }};\n}}\n\nexport default Client;");
    out
}

/// The arguments of a global action's mutation field.
fn sdl_args(sdl: &Sdl, namespace: Option<&str>, name: &str) -> Vec<(String, Type)> {
    let owner = match namespace {
        None => Some("Mutation".to_owned()),
        Some(ns) => sdl.field("Mutation", ns).map(|f| named(&f.ty).to_owned()),
    };
    owner
        .and_then(|o| sdl.field(&o, name).map(|f| f.args.clone()))
        .unwrap_or_default()
}
