//! What the generated client knows about each model and global action: the operation
//! names, argument types and result shapes api-client-core's runners and the
//! `@gadgetinc/react` hooks read, taken from the registry (which models, their unique
//! fields) and from the served schema (how every operation is spelled).

use super::sdl::{Kind, Sdl, named, variable};
use crate::model::{Registry, pascal};
use serde_json::{Map, Value as Json, json};

/// One model's manager.
pub(crate) struct ModelMeta {
    /// `bigcommerce`, or `None` at the root.
    pub namespace: Option<String>,
    pub api_id: String,
    pub plural: String,
    /// `BigcommerceProduct`.
    pub record_type: String,
    /// The fields selected when a call selects nothing: every scalar field.
    pub default_selection: Vec<String>,
    /// Fields with a `findBy<Field>` finder (`id` and the unscoped unique fields).
    pub find_by: Vec<String>,
    /// The list's filter and sort input types, when the model can be listed.
    pub filter_type: Option<String>,
    pub sort_type: Option<String>,
    pub actions: Vec<ActionMeta>,
}

impl ModelMeta {
    /// The default selection as JSON, `__typename` first.
    pub(crate) fn selection(&self) -> Json {
        let mut map = Map::new();
        map.insert("__typename".into(), Json::Bool(true));
        for f in &self.default_selection {
            map.insert(f.clone(), Json::Bool(true));
        }
        Json::Object(map)
    }
}

/// A model action: a generated verb (`create`, `bulkDelete`) or the model's own (`run`).
pub(crate) struct ActionMeta {
    pub function_name: String,
    pub operation_name: String,
    /// The mutation's result type, e.g. `CreateBigcommerceProductResult`.
    pub result_type: String,
    pub is_bulk: bool,
    pub is_deleter: bool,
    /// (name, required, type) of each argument.
    pub variables: Vec<(String, bool, String)>,
    pub has_return_type: Json,
    pub accepts_model_input: bool,
    pub operates_with_record_identity: bool,
    pub param_only: Vec<String>,
    pub single_action: Option<String>,
    /// The input object the record's fields go in (the model argument's type, or a
    /// bulk element's).
    pub input_type: Option<String>,
    /// One of the generated verbs (typed precisely in the declarations).
    pub generic: bool,
}

/// A global action.
pub(crate) struct GlobalMeta {
    pub namespace: Option<String>,
    pub name: String,
    pub result_type: String,
    pub variables: Vec<(String, bool, String)>,
}

pub(crate) struct ClientMeta {
    pub models: Vec<ModelMeta>,
    pub globals: Vec<GlobalMeta>,
    /// The `currentSession` type and its default selection.
    pub session: Option<(String, Json)>,
}

/// The generated single and bulk verbs, with the function names Gadget's clients use.
const VERBS: [(&str, &str, bool); 8] = [
    ("create", "Create", false),
    ("update", "Update", false),
    ("delete", "Delete", false),
    ("upsert", "Upsert", false),
    ("bulkCreate", "Create", true),
    ("bulkUpdate", "Update", true),
    ("bulkDelete", "Delete", true),
    ("bulkUpsert", "Upsert", true),
];

impl ClientMeta {
    pub(crate) fn build(registry: &Registry, sdl: &Sdl) -> ClientMeta {
        let mut models = Vec::new();
        let mut claimed: Vec<(Option<String>, String)> = Vec::new();
        let mut sorted: Vec<_> = registry.models.iter().collect();
        sorted.sort_by(|a, b| (&a.namespace, &a.api_id).cmp(&(&b.namespace, &b.api_id)));
        for model in sorted {
            let namespace = (!model.namespace.is_empty()).then(|| model.namespace.clone());
            let Some(queries) = container(sdl, "Query", namespace.as_deref()) else {
                continue;
            };
            let Some(one) = sdl.field(&queries, &model.api_id) else {
                continue;
            };
            let record_type = named(&one.ty).to_owned();
            let Some(record) = sdl.get(&record_type) else {
                continue;
            };
            let default_selection = record
                .fields
                .iter()
                .filter(|f| f.args.is_empty() && f.name != "_all" && sdl.is_leaf(named(&f.ty)))
                .map(|f| f.name.clone())
                .collect();
            let list = sdl.field(&queries, &model.plural_api_id);
            let arg_type = |name: &str| {
                list.and_then(|l| l.args.iter().find(|(a, _)| a == name))
                    .map(|(_, t)| named(t).to_owned())
            };
            let mut find_by = vec!["id".to_owned()];
            if list.is_some() {
                for unique in model.uniques.iter().filter(|u| u.scope.is_none()) {
                    let field = &model.fields[unique.field];
                    if !field.hidden && !find_by.contains(&field.api_id) {
                        find_by.push(field.api_id.clone());
                    }
                }
            } else {
                find_by.clear();
            }
            let mut actions = Vec::new();
            if let Some(mutations) = container(sdl, "Mutation", namespace.as_deref()) {
                let Some(container) = sdl.get(&mutations) else {
                    continue;
                };
                for (function, word, bulk) in VERBS {
                    let operation = match bulk {
                        true => format!("bulk{word}{}", pascal(&model.plural_api_id)),
                        false => format!("{}{}", word.to_lowercase(), pascal(&model.api_id)),
                    };
                    if let Some(field) = sdl.field(&mutations, &operation) {
                        let single = bulk.then(|| function.trim_start_matches("bulk").to_lowercase());
                        actions.push(action(sdl, model, &record_type, function, field, single, true));
                        claimed.push((namespace.clone(), operation));
                    }
                }
                // The model's own actions answer with its record: `runSync` is `run`.
                let suffix = pascal(&model.api_id);
                for field in &container.fields {
                    let result = named(&field.ty);
                    let answers_record = sdl
                        .field(result, &model.api_id)
                        .is_some_and(|f| named(&f.ty) == record_type);
                    let taken = actions.iter().any(|a| a.operation_name == field.name);
                    if answers_record && !taken && field.name.ends_with(&suffix) && field.name != suffix {
                        let function = field.name.trim_end_matches(&suffix).to_owned();
                        actions.push(action(sdl, model, &record_type, &function, field, None, false));
                        claimed.push((namespace.clone(), field.name.clone()));
                    }
                }
            }
            models.push(ModelMeta {
                namespace,
                api_id: model.api_id.clone(),
                plural: model.plural_api_id.clone(),
                record_type,
                default_selection,
                find_by,
                filter_type: arg_type("filter"),
                sort_type: arg_type("sort"),
                actions,
            });
        }
        let globals = globals(sdl, &claimed);
        let session = sdl.field("Query", "currentSession").map(|f| {
            let ty = named(&f.ty).to_owned();
            let records: Vec<&str> = models.iter().map(|m| m.record_type.as_str()).collect();
            (ty.clone(), session_selection(sdl, &ty, &records))
        });
        ClientMeta {
            models,
            globals,
            session,
        }
    }

    /// The metadata as the runtime reads it (`metadata.js`).
    pub(crate) fn to_json(&self) -> Json {
        let models: Vec<Json> = self
            .models
            .iter()
            .map(|m| {
                json!({
                    "namespace": m.namespace,
                    "apiIdentifier": m.api_id,
                    "pluralApiIdentifier": m.plural,
                    "defaultSelection": m.selection(),
                    "findBy": m.find_by,
                    "actions": m.actions.iter().map(|a| a.to_json(m)).collect::<Vec<_>>(),
                })
            })
            .collect();
        let globals: Vec<Json> = self
            .globals
            .iter()
            .map(|g| {
                json!({
                    "type": "globalAction",
                    "functionName": g.name,
                    "operationName": g.name,
                    "operationReturnType": g.result_type.trim_end_matches("Result"),
                    "namespace": g.namespace,
                    "variables": variables_json(&g.variables),
                })
            })
            .collect();
        json!({
            "models": models,
            "globalActions": globals,
            "session": self.session.as_ref().map(|(_, s)| json!({"defaultSelection": s})),
        })
    }
}

impl ActionMeta {
    fn to_json(&self, model: &ModelMeta) -> Json {
        let mut out = json!({
            "type": "action",
            "functionName": self.function_name,
            "operationName": self.operation_name,
            "namespace": model.namespace,
            "modelApiIdentifier": model.api_id,
            "modelSelectionField": if self.is_bulk { &model.plural } else { &model.api_id },
            "isBulk": self.is_bulk,
            "isDeleter": self.is_deleter,
            "variables": variables_json(&self.variables),
            "hasAmbiguousIdentifier": false,
            "paramOnlyVariables": self.param_only,
            "hasReturnType": self.has_return_type,
            "acceptsModelInput": self.accepts_model_input,
            "operatesWithRecordIdentity": self.operates_with_record_identity,
            "hasCreateOrUpdateEffect": self.accepts_model_input,
        });
        if let Some(obj) = out.as_object_mut() {
            match &self.single_action {
                Some(single) => {
                    obj.insert("singleActionFunctionName".into(), json!(single));
                }
                None => {
                    obj.insert(
                        "operationReturnType".into(),
                        json!(self.result_type.trim_end_matches("Result")),
                    );
                }
            }
        }
        out
    }
}

fn variables_json(variables: &[(String, bool, String)]) -> Json {
    let mut out = Map::new();
    for (name, required, ty) in variables {
        out.insert(name.clone(), json!({"required": required, "type": ty}));
    }
    Json::Object(out)
}

/// The type holding a namespace's queries or mutations (`BigcommerceMutations`), or the
/// root type itself.
fn container(sdl: &Sdl, root: &str, namespace: Option<&str>) -> Option<String> {
    match namespace {
        None => sdl.get(root).map(|_| root.to_owned()),
        Some(ns) => sdl.field(root, ns).map(|f| named(&f.ty).to_owned()),
    }
}

fn action(
    sdl: &Sdl,
    model: &crate::model::Model,
    record_type: &str,
    function: &str,
    field: &super::sdl::FieldDef,
    single: Option<String>,
    generic: bool,
) -> ActionMeta {
    let result_type = named(&field.ty).to_owned();
    let result = sdl.get(&result_type);
    let is_bulk = single.is_some();
    let variables: Vec<(String, bool, String)> = field
        .args
        .iter()
        .map(|(name, ty)| {
            let (required, text) = variable(ty);
            (name.clone(), required, text)
        })
        .collect();
    let key = model.api_id.as_str();
    let selection_field = if is_bulk {
        &model.plural_api_id
    } else {
        &model.api_id
    };
    let answers = |name: &str| sdl.field(&result_type, name).is_some();
    let has_return_type = match result.map(|r| &r.kind) {
        // An upsert answers a create or an update: select the record in each.
        Some(Kind::Interface) => {
            let mut map = Map::new();
            for t in sdl.implementors(&result_type) {
                map.insert(format!("... on {t}"), json!({"hasReturnType": false}));
            }
            Json::Object(map)
        }
        _ if answers(if is_bulk { "results" } else { "result" }) => Json::Bool(true),
        _ => Json::Bool(false),
    };
    let is_deleter = has_return_type == Json::Bool(false)
        && sdl
            .field(&result_type, selection_field)
            .is_none_or(|f| named(&f.ty) != record_type);
    // A bulk action's element fields play the part of a single action's arguments.
    let element = is_bulk
        .then(|| {
            field
                .args
                .iter()
                .find(|(n, _)| n == "inputs")
                .map(|(_, t)| named(t).to_owned())
        })
        .flatten();
    let names: Vec<String> = match &element {
        Some(e) => sdl
            .get(e)
            .map(|t| t.fields.iter().map(|f| f.name.clone()).collect())
            .unwrap_or_default(),
        None => field.args.iter().map(|(n, _)| n.clone()).collect(),
    };
    let input_type = match &element {
        Some(e) => sdl.field(e, key).map(|f| named(&f.ty).to_owned()),
        None => field
            .args
            .iter()
            .find(|(n, _)| n == key)
            .map(|(_, t)| named(t).to_owned()),
    };
    ActionMeta {
        function_name: function.to_owned(),
        operation_name: field.name.clone(),
        result_type,
        is_bulk,
        is_deleter,
        accepts_model_input: names.iter().any(|n| n == key),
        operates_with_record_identity: names.iter().any(|n| n == "id" || n == "ids"),
        param_only: names
            .iter()
            .filter(|n| !matches!(n.as_str(), "id" | "ids" | "inputs") && n.as_str() != key)
            .cloned()
            .collect(),
        variables,
        has_return_type,
        single_action: single,
        input_type,
        generic,
    }
}

/// The mutations that answer `{success errors result}` and are no model's: the global
/// actions, at the root and in each namespace.
fn globals(sdl: &Sdl, claimed: &[(Option<String>, String)]) -> Vec<GlobalMeta> {
    let mut out = Vec::new();
    let Some(root) = sdl.get("Mutation") else {
        return out;
    };
    let mut places: Vec<(Option<String>, String)> = vec![(None, "Mutation".to_owned())];
    for f in &root.fields {
        let ty = named(&f.ty);
        // A namespace: an object whose fields are all mutations (not `background`,
        // whose fields enqueue, nor `gadgetMeta`).
        if f.args.is_empty() && f.name != "background" && f.name != "gadgetMeta" && !sdl.is_leaf(ty) {
            let is_namespace = sdl
                .get(ty)
                .is_some_and(|t| t.kind == Kind::Object && sdl.field(ty, "success").is_none());
            if is_namespace {
                places.push((Some(f.name.clone()), ty.to_owned()));
            }
        }
    }
    for (namespace, owner) in places {
        let Some(t) = sdl.get(&owner) else { continue };
        for f in &t.fields {
            let result = named(&f.ty);
            let is_global = sdl.field(result, "result").is_some() && sdl.field(result, "success").is_some();
            if !is_global || claimed.contains(&(namespace.clone(), f.name.clone())) {
                continue;
            }
            out.push(GlobalMeta {
                namespace: namespace.clone(),
                name: f.name.clone(),
                result_type: result.to_owned(),
                variables: f
                    .args
                    .iter()
                    .map(|(n, ty)| {
                        let (required, text) = variable(ty);
                        (n.clone(), required, text)
                    })
                    .collect(),
            });
        }
    }
    out.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    out
}

/// The session's scalar fields, and the scalar fields of its small objects (`roles`),
/// but not the records it links (a store is fetched when asked for).
fn session_selection(sdl: &Sdl, ty: &str, records: &[&str]) -> Json {
    let mut out = Map::new();
    out.insert("__typename".into(), Json::Bool(true));
    let Some(t) = sdl.get(ty) else {
        return Json::Object(out);
    };
    for f in t.fields.iter().filter(|f| f.args.is_empty() && f.name != "_all") {
        let inner = named(&f.ty);
        if sdl.is_leaf(inner) {
            out.insert(f.name.clone(), Json::Bool(true));
        } else if !records.contains(&inner) {
            let mut sub = Map::new();
            for g in sdl.get(inner).map(|t| t.fields.as_slice()).unwrap_or_default() {
                if g.args.is_empty() && sdl.is_leaf(named(&g.ty)) {
                    sub.insert(g.name.clone(), Json::Bool(true));
                }
            }
            if !sub.is_empty() {
                out.insert(f.name.clone(), Json::Object(sub));
            }
        }
    }
    Json::Object(out)
}
