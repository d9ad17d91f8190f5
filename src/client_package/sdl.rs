//! The served schema, read back from its SDL: the generated client names every
//! operation, argument and type exactly as the gateway spells them, so nothing here
//! re-derives a GraphQL name that the schema builder already chose.

use async_graphql::parser::types::{BaseType, Type, TypeKind, TypeSystemDefinition};
use std::collections::BTreeMap;

/// What kind of type a name is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Scalar,
    Object,
    Interface,
    Union(Vec<String>),
    Enum(Vec<String>),
    Input,
}

/// A field of an object or interface, or an input object's field (without arguments).
#[derive(Clone, Debug)]
pub(crate) struct FieldDef {
    pub name: String,
    pub ty: Type,
    pub args: Vec<(String, Type)>,
}

#[derive(Clone, Debug)]
pub(crate) struct TypeDef {
    pub kind: Kind,
    pub fields: Vec<FieldDef>,
    pub implements: Vec<String>,
}

/// Every type of the schema by name.
pub(crate) struct Sdl {
    pub types: BTreeMap<String, TypeDef>,
}

impl Sdl {
    pub(crate) fn parse(sdl: &str) -> Result<Sdl, String> {
        // An input object without fields (a model action without parameters) prints as
        // `input X {\n}`, which the parser refuses; the body-less form means the same.
        let sdl = sdl.replace(" {\n}", "");
        let document = async_graphql::parser::parse_schema(&sdl).map_err(|e| e.to_string())?;
        let mut types = BTreeMap::new();
        for definition in document.definitions {
            let TypeSystemDefinition::Type(t) = definition else {
                continue;
            };
            let t = t.node;
            let field = |f: &async_graphql::parser::types::FieldDefinition| FieldDef {
                name: f.name.node.to_string(),
                ty: f.ty.node.clone(),
                args: f
                    .arguments
                    .iter()
                    .map(|a| (a.node.name.node.to_string(), a.node.ty.node.clone()))
                    .collect(),
            };
            let (kind, fields, implements) = match &t.kind {
                TypeKind::Scalar => (Kind::Scalar, Vec::new(), Vec::new()),
                TypeKind::Object(o) => (
                    Kind::Object,
                    o.fields.iter().map(|f| field(&f.node)).collect(),
                    o.implements.iter().map(|n| n.node.to_string()).collect(),
                ),
                TypeKind::Interface(i) => (
                    Kind::Interface,
                    i.fields.iter().map(|f| field(&f.node)).collect(),
                    i.implements.iter().map(|n| n.node.to_string()).collect(),
                ),
                TypeKind::Union(u) => (
                    Kind::Union(u.members.iter().map(|n| n.node.to_string()).collect()),
                    Vec::new(),
                    Vec::new(),
                ),
                TypeKind::Enum(e) => (
                    Kind::Enum(e.values.iter().map(|v| v.node.value.node.to_string()).collect()),
                    Vec::new(),
                    Vec::new(),
                ),
                TypeKind::InputObject(i) => (
                    Kind::Input,
                    i.fields
                        .iter()
                        .map(|f| FieldDef {
                            name: f.node.name.node.to_string(),
                            ty: f.node.ty.node.clone(),
                            args: Vec::new(),
                        })
                        .collect(),
                    Vec::new(),
                ),
            };
            types.insert(
                t.name.node.to_string(),
                TypeDef {
                    kind,
                    fields,
                    implements,
                },
            );
        }
        Ok(Sdl { types })
    }

    pub(crate) fn get(&self, name: &str) -> Option<&TypeDef> {
        self.types.get(name)
    }

    /// The field `name` of type `owner`.
    pub(crate) fn field(&self, owner: &str, name: &str) -> Option<&FieldDef> {
        self.get(owner)?.fields.iter().find(|f| f.name == name)
    }

    /// The object types that implement `interface`, sorted.
    pub(crate) fn implementors(&self, interface: &str) -> Vec<String> {
        self.types
            .iter()
            .filter(|(_, t)| t.implements.iter().any(|i| i == interface))
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// A scalar or an enum: selected without a sub-selection.
    pub(crate) fn is_leaf(&self, name: &str) -> bool {
        matches!(
            self.get(name).map(|t| &t.kind),
            None | Some(Kind::Scalar) | Some(Kind::Enum(_))
        )
    }
}

/// The named type under any list and non-null wrappers: `[Foo!]!` → `Foo`.
pub(crate) fn named(ty: &Type) -> &str {
    match &ty.base {
        BaseType::Named(n) => n.as_str(),
        BaseType::List(inner) => named(inner),
    }
}

/// The type as api-client-core's variable metadata spells it: whether it is required,
/// and its text without the outer `!` (`GadgetID`, `[String!]`).
pub(crate) fn variable(ty: &Type) -> (bool, String) {
    (!ty.nullable, ty.base.to_string())
}
