//! Filters: the API's filter objects parsed into a condition tree, then written as SQL.

use super::QueryError;
use super::sql::Sql;
use super::tenant::Tenant;
use super::value::Value;
use crate::model::{FieldType, Model, ModelId, Registry, RelationKind};
use serde_json::Value as Json;

#[derive(Clone, Debug, PartialEq)]
pub enum Cond {
    Const(bool),
    All(Vec<Cond>),
    Any(Vec<Cond>),
    Not(Box<Cond>),
    Compare {
        field: usize,
        op: Cmp,
        value: Value,
    },
    /// `equals: null` / `notEquals` with null-safe semantics.
    Distinct {
        field: usize,
        value: Value,
        negated: bool,
    },
    In {
        field: usize,
        values: Vec<Value>,
        negated: bool,
    },
    StartsWith {
        field: usize,
        prefix: String,
    },
    IsSet {
        field: usize,
        set: bool,
    },
    JsonMatches {
        field: usize,
        value: Json,
    },
    /// The belongsTo target matches `inner`.
    BelongsTo {
        relation: usize,
        inner: Box<Cond>,
    },
    /// Some / every hasMany child matches `inner`.
    HasMany {
        relation: usize,
        inner: Box<Cond>,
        every: bool,
    },
    /// One word, found (case-insensitively) in one of these fields.
    Search(String, Vec<usize>),
}

/// `search: term`: every word of `term` is found in one of `fields` (the model's
/// searchable fields unless `searchFields` named some), as Gadget's search matches.
pub fn search(model: &Model, term: &str, fields: Option<Vec<usize>>) -> Cond {
    let fields = fields.unwrap_or_else(|| model.searchable.clone());
    let words: Vec<Cond> = term
        .split_whitespace()
        .map(|word| Cond::Search(word.to_owned(), fields.clone()))
        .collect();
    Cond::All(words).simplify()
}

impl Cond {
    /// The models a condition on `model` reads through its relationships: a caller
    /// filters only by what it may read.
    pub fn related_models(&self, registry: &Registry, model: ModelId) -> Vec<ModelId> {
        let mut out = Vec::new();
        self.collect_related(registry, model, &mut out);
        out
    }

    fn collect_related(&self, registry: &Registry, model: ModelId, out: &mut Vec<ModelId>) {
        match self {
            Cond::All(items) | Cond::Any(items) => {
                for item in items {
                    item.collect_related(registry, model, out);
                }
            }
            Cond::Not(inner) => inner.collect_related(registry, model, out),
            Cond::BelongsTo { relation, inner } | Cond::HasMany { relation, inner, .. } => {
                let target = registry.get(model).relations[*relation].target;
                if !out.contains(&target) {
                    out.push(target);
                }
                inner.collect_related(registry, target, out);
            }
            _ => {}
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cmp {
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    fn sql(self) -> &'static str {
        match self {
            Cmp::Lt => " < ",
            Cmp::Le => " <= ",
            Cmp::Gt => " > ",
            Cmp::Ge => " >= ",
        }
    }
}

fn invalid(msg: String) -> QueryError {
    QueryError::InvalidInput(msg)
}

/// A one-element list may arrive as a bare object.
fn as_list(v: &Json) -> Vec<&Json> {
    match v {
        Json::Array(items) => items.iter().collect(),
        Json::Null => Vec::new(),
        other => vec![other],
    }
}

/// Parse the `filter` argument (a list of filter objects, ANDed).
pub fn parse(registry: &Registry, model: &Model, filter: &Json) -> Result<Cond, QueryError> {
    let conds = as_list(filter)
        .into_iter()
        .map(|f| parse_object(registry, model, f))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Cond::All(conds).simplify())
}

fn parse_object(registry: &Registry, model: &Model, filter: &Json) -> Result<Cond, QueryError> {
    let Json::Object(map) = filter else {
        return Err(invalid(format!("a filter must be an object, got {filter}")));
    };
    let mut conds = Vec::new();
    for (key, value) in map {
        if value.is_null() {
            continue;
        }
        let cond = match key.as_str() {
            "AND" => Cond::All(parse_list(registry, model, value)?),
            "OR" => Cond::Any(parse_list(registry, model, value)?),
            "NOT" => Cond::Not(Box::new(Cond::All(parse_list(registry, model, value)?))),
            _ => {
                if let Some(field) = model.field(key).filter(|f| !model.fields[*f].hidden) {
                    parse_field(model, field, value)?
                } else if let Some(relation) = model.relation(key) {
                    parse_relation(registry, model, relation, value)?
                } else {
                    return Err(invalid(format!(
                        "unknown filter field `{key}` on {}",
                        model.type_name()
                    )));
                }
            }
        };
        conds.push(cond);
    }
    Ok(Cond::All(conds))
}

fn parse_list(registry: &Registry, model: &Model, value: &Json) -> Result<Vec<Cond>, QueryError> {
    as_list(value)
        .into_iter()
        .map(|f| parse_object(registry, model, f))
        .collect()
}

fn parse_field(model: &Model, field: usize, ops: &Json) -> Result<Cond, QueryError> {
    let f = &model.fields[field];
    let Json::Object(ops) = ops else {
        return Err(invalid(format!(
            "filter on `{}` must be an object of operators",
            f.api_id
        )));
    };
    let what = |op: &str| format!("filter `{}.{op}`", f.api_id);
    let mut conds = Vec::new();
    for (op, arg) in ops {
        let cond = match op.as_str() {
            "isSet" => match arg {
                Json::Bool(set) => Cond::IsSet { field, set: *set },
                Json::Null => continue,
                _ => return Err(invalid(format!("{}: expected a boolean", what(op)))),
            },
            "equals" | "notEquals" => Cond::Distinct {
                field,
                value: Value::parse(arg, f, &what(op))?,
                negated: op == "notEquals",
            },
            "in" | "notIn" => {
                let values = as_list(arg)
                    .into_iter()
                    .map(|v| Value::parse(v, f, &what(op)))
                    .collect::<Result<Vec<_>, _>>()?;
                Cond::In {
                    field,
                    values,
                    negated: op == "notIn",
                }
            }
            "lessThan" | "lessThanOrEqual" | "greaterThan" | "greaterThanOrEqual" | "before" | "after" => {
                if arg.is_null() {
                    continue;
                }
                let cmp = match op.as_str() {
                    "lessThan" | "before" => Cmp::Lt,
                    "lessThanOrEqual" => Cmp::Le,
                    "greaterThan" | "after" => Cmp::Gt,
                    _ => Cmp::Ge,
                };
                Cond::Compare {
                    field,
                    op: cmp,
                    value: Value::parse(arg, f, &what(op))?,
                }
            }
            "startsWith" => match arg {
                Json::String(prefix) => Cond::StartsWith {
                    field,
                    prefix: prefix.clone(),
                },
                Json::Null => continue,
                _ => return Err(invalid(format!("{}: expected a string", what(op)))),
            },
            "matches" if f.ty == FieldType::Json => match arg {
                Json::Null => continue,
                value => Cond::JsonMatches {
                    field,
                    value: value.clone(),
                },
            },
            _ => {
                return Err(invalid(format!(
                    "unknown filter operator `{op}` on `{}`",
                    f.api_id
                )));
            }
        };
        conds.push(cond);
    }
    Ok(Cond::All(conds))
}

fn parse_relation(
    registry: &Registry,
    model: &Model,
    relation: usize,
    value: &Json,
) -> Result<Cond, QueryError> {
    let rel = &model.relations[relation];
    let target = registry.get(rel.target);
    let Json::Object(map) = value else {
        return Err(invalid(format!("filter on `{}` must be an object", rel.api_id)));
    };
    match rel.kind {
        RelationKind::BelongsTo { field } => {
            let mut conds = Vec::new();
            let mut inner = serde_json::Map::new();
            for (k, v) in map {
                if k == "isSet" {
                    match v {
                        Json::Bool(set) => conds.push(Cond::IsSet { field, set: *set }),
                        Json::Null => {}
                        _ => {
                            return Err(invalid(format!(
                                "filter `{}.isSet`: expected a boolean",
                                rel.api_id
                            )));
                        }
                    }
                } else {
                    inner.insert(k.clone(), v.clone());
                }
            }
            if !inner.is_empty() {
                let inner = parse_object(registry, target, &Json::Object(inner))?;
                conds.push(Cond::BelongsTo {
                    relation,
                    inner: Box::new(inner),
                });
            }
            Ok(Cond::All(conds))
        }
        RelationKind::HasMany { .. } => {
            let mut conds = Vec::new();
            for (k, v) in map {
                if v.is_null() {
                    continue;
                }
                let every = match k.as_str() {
                    "some" => false,
                    "every" => true,
                    _ => {
                        return Err(invalid(format!(
                            "filter on `{}` takes `some` or `every`, not `{k}`",
                            rel.api_id
                        )));
                    }
                };
                let inner = Cond::All(parse_list(registry, target, v)?);
                conds.push(Cond::HasMany {
                    relation,
                    inner: Box::new(inner),
                    every,
                });
            }
            Ok(Cond::All(conds))
        }
    }
}

impl Cond {
    /// Drop empty conjunctions so the SQL stays small.
    pub fn simplify(self) -> Cond {
        match self {
            Cond::All(conds) => {
                let mut out: Vec<Cond> = Vec::new();
                for c in conds.into_iter().map(Cond::simplify) {
                    match c {
                        Cond::Const(true) => {}
                        Cond::All(inner) => out.extend(inner),
                        c => out.push(c),
                    }
                }
                match out.len() {
                    0 => Cond::Const(true),
                    1 => out.pop().unwrap_or(Cond::Const(true)),
                    _ => Cond::All(out),
                }
            }
            Cond::Any(conds) => Cond::Any(conds.into_iter().map(Cond::simplify).collect()),
            Cond::Not(c) => Cond::Not(Box::new(c.simplify())),
            Cond::BelongsTo { relation, inner } => Cond::BelongsTo {
                relation,
                inner: Box::new(inner.simplify()),
            },
            Cond::HasMany {
                relation,
                inner,
                every,
            } => Cond::HasMany {
                relation,
                inner: Box::new(inner.simplify()),
                every,
            },
            c => c,
        }
    }
}

/// Writes conditions for one query; it hands out table aliases for subqueries and
/// adds the tenant restriction to every tenant-scoped table it reads.
pub struct Writer<'a> {
    pub registry: &'a Registry,
    pub sql: Sql,
    pub tenant: Tenant,
    next_alias: usize,
}

impl<'a> Writer<'a> {
    pub fn new(registry: &'a Registry, sql: Sql, tenant: Tenant) -> Self {
        Writer {
            registry,
            sql,
            tenant,
            next_alias: 1,
        }
    }

    pub fn alias(&mut self) -> String {
        let a = format!("t{}", self.next_alias);
        self.next_alias += 1;
        a
    }

    /// The tenant restriction of `model`'s rows at `alias`, free to drive the plan.
    pub fn tenant_restriction(&mut self, model: &Model, alias: &str) {
        self.tenant.restrict(&mut self.sql, model, alias, true);
    }

    /// The tenant restriction as a plain filter, where ids or a foreign key select the
    /// rows (see [`Tenant::restrict`]).
    pub fn tenant_filter(&mut self, model: &Model, alias: &str) {
        self.tenant.restrict(&mut self.sql, model, alias, false);
    }

    pub fn cond(&mut self, model_id: ModelId, alias: &str, cond: &Cond) -> Result<(), QueryError> {
        let registry = self.registry;
        let model = registry.get(model_id);
        match cond {
            Cond::Const(true) => {
                self.sql.push("1=1");
            }
            Cond::Const(false) => {
                self.sql.push("1=0");
            }
            Cond::All(conds) | Cond::Any(conds) => {
                if conds.is_empty() {
                    self.sql.push(if matches!(cond, Cond::All(_)) {
                        "1=1"
                    } else {
                        "1=0"
                    });
                    return Ok(());
                }
                let joiner = if matches!(cond, Cond::All(_)) {
                    " AND "
                } else {
                    " OR "
                };
                self.sql.push("(");
                for (i, c) in conds.iter().enumerate() {
                    if i > 0 {
                        self.sql.push(joiner);
                    }
                    self.cond(model_id, alias, c)?;
                }
                self.sql.push(")");
            }
            Cond::Not(inner) => {
                // `IS NOT TRUE` so that rows where the inner condition is unknown (NULL) are kept.
                self.sql.push("((");
                self.cond(model_id, alias, inner)?;
                self.sql.push(") IS NOT TRUE)");
            }
            Cond::Compare { field, op, value } => {
                let f = &model.fields[*field];
                self.sql
                    .column(alias, &f.column)
                    .push(op.sql())
                    .bind(value.to_sql(f.ty));
            }
            Cond::Distinct {
                field,
                value,
                negated,
            } => {
                let f = &model.fields[*field];
                let json = f.ty == FieldType::Json;
                match (value, negated) {
                    (Value::Null, false) => {
                        self.sql.column(alias, &f.column).push(" IS NULL");
                    }
                    (Value::Null, true) => {
                        self.sql.column(alias, &f.column).push(" IS NOT NULL");
                    }
                    (value, false) => {
                        self.json_operand(alias, &f.column, json);
                        self.sql.push(" = ");
                        self.json_value(value.to_sql(f.ty), json);
                    }
                    (value, true) => {
                        self.sql.push("(");
                        self.sql.column(alias, &f.column).push(" IS NULL OR ");
                        self.json_operand(alias, &f.column, json);
                        self.sql.push(" <> ");
                        self.json_value(value.to_sql(f.ty), json);
                        self.sql.push(")");
                    }
                }
            }
            Cond::In {
                field,
                values,
                negated,
            } => {
                let f = &model.fields[*field];
                let json = f.ty == FieldType::Json;
                let (nulls, values): (Vec<&Value>, Vec<&Value>) =
                    values.iter().partition(|v| **v == Value::Null);
                let mut parts = 0;
                self.sql.push("(");
                if !values.is_empty() {
                    self.json_operand(alias, &f.column, json);
                    self.sql.push(if *negated { " NOT IN (" } else { " IN (" });
                    for (i, v) in values.iter().enumerate() {
                        if i > 0 {
                            self.sql.push(", ");
                        }
                        self.json_value(v.to_sql(f.ty), json);
                    }
                    self.sql.push(")");
                    parts += 1;
                }
                match (negated, nulls.is_empty()) {
                    // `notIn` without null keeps the rows that have no value.
                    (true, true) if parts > 0 => {
                        self.sql.push(" OR ").column(alias, &f.column).push(" IS NULL");
                    }
                    (true, false) => {
                        if parts > 0 {
                            self.sql.push(" AND ");
                        }
                        self.sql.column(alias, &f.column).push(" IS NOT NULL");
                        parts += 1;
                    }
                    (false, false) => {
                        if parts > 0 {
                            self.sql.push(" OR ");
                        }
                        self.sql.column(alias, &f.column).push(" IS NULL");
                        parts += 1;
                    }
                    _ => {}
                }
                if parts == 0 {
                    // `in: []` matches nothing, `notIn: []` everything.
                    self.sql.push(if *negated { "1=1" } else { "1=0" });
                }
                self.sql.push(")");
            }
            Cond::StartsWith { field, prefix } => {
                let f = &model.fields[*field];
                let len = prefix.chars().count();
                self.sql
                    .push("substr(")
                    .column(alias, &f.column)
                    .push(&format!(", 1, {len}) = "))
                    .bind(prefix.clone().into());
            }
            Cond::IsSet { field, set } => {
                let f = &model.fields[*field];
                self.sql
                    .column(alias, &f.column)
                    .push(if *set { " IS NOT NULL" } else { " IS NULL" });
            }
            Cond::JsonMatches { field, value } => {
                let f = &model.fields[*field];
                self.json_matches(alias, &f.column, value);
            }
            Cond::BelongsTo { relation, inner } => {
                let rel = &model.relations[*relation];
                let RelationKind::BelongsTo { field } = rel.kind else {
                    return Err(QueryError::InvalidInput("not a belongsTo relation".into()));
                };
                let target = registry.get(rel.target);
                let sub = self.alias();
                self.sql
                    .column(alias, &model.fields[field].column)
                    .push(" IN (SELECT ");
                self.sql
                    .column(&sub, "id")
                    .push(" FROM ")
                    .ident(&target.table)
                    .push(" ")
                    .push(&sub)
                    .push(" WHERE ");
                self.cond(rel.target, &sub, inner)?;
                self.tenant_restriction(target, &sub);
                self.sql.push(")");
            }
            Cond::HasMany {
                relation,
                inner,
                every,
            } => {
                let rel = &model.relations[*relation];
                let RelationKind::HasMany { target_field } = rel.kind else {
                    return Err(QueryError::InvalidInput("not a hasMany relation".into()));
                };
                let target = registry.get(rel.target);
                let fk = target.fields[target_field].column.clone();
                let sub = self.alias();
                self.sql.column(alias, "id").push(if *every {
                    " NOT IN (SELECT "
                } else {
                    " IN (SELECT "
                });
                self.sql
                    .column(&sub, &fk)
                    .push(" FROM ")
                    .ident(&target.table)
                    .push(" ")
                    .push(&sub)
                    .push(" WHERE ");
                self.sql.column(&sub, &fk).push(" IS NOT NULL AND ");
                if *every {
                    self.sql.push("((");
                    self.cond(rel.target, &sub, inner)?;
                    self.sql.push(") IS NOT TRUE)");
                } else {
                    self.cond(rel.target, &sub, inner)?;
                }
                self.tenant_restriction(target, &sub);
                self.sql.push(")");
            }
            Cond::Search(term, fields) => {
                let pattern = format!("%{}%", escape_like(&term.to_lowercase()));
                if fields.is_empty() {
                    self.sql.push("1=0");
                    return Ok(());
                }
                // SQLite's LIKE already ignores the case of ASCII letters, and its LOWER()
                // folds no others, so LOWER() there would only cost a copy of each value.
                let lower = self.sql.is_postgres();
                self.sql.push("(");
                for (i, field) in fields.iter().enumerate() {
                    if i > 0 {
                        self.sql.push(" OR ");
                    }
                    let column = &model.fields[*field].column;
                    match lower {
                        true => self.sql.push("LOWER(").column(alias, column).push(")"),
                        false => self.sql.column(alias, column),
                    };
                    self.sql.push(" LIKE ");
                    self.sql.bind(pattern.clone().into()).push(" ESCAPE '\\'");
                }
                self.sql.push(")");
            }
        }
        Ok(())
    }

    /// JSON is compared in a normal form: `jsonb` on PostgreSQL, minified text on SQLite.
    fn json_operand(&mut self, alias: &str, column: &str, json: bool) {
        if json && !self.sql.is_postgres() {
            self.sql.push("json(").column(alias, column).push(")");
        } else {
            self.sql.column(alias, column);
        }
    }

    fn json_value(&mut self, value: sea_orm::Value, json: bool) {
        if json && !self.sql.is_postgres() {
            self.sql.push("json(").bind(value).push(")");
        } else {
            self.sql.bind(value);
        }
    }

    /// The stored object contains the given keys and values.
    fn json_matches(&mut self, alias: &str, column: &str, value: &Json) {
        if self.sql.is_postgres() {
            self.sql
                .column(alias, column)
                .push(" @> ")
                .bind(value.clone().into());
            return;
        }
        // SQLite has no containment operator: compare every leaf of the given object.
        let mut leaves = Vec::new();
        flatten(&mut Vec::new(), value, &mut leaves);
        if leaves.is_empty() {
            self.sql.column(alias, column).push(" IS NOT NULL");
            return;
        }
        self.sql.push("(");
        for (i, (keys, leaf)) in leaves.into_iter().enumerate() {
            if i > 0 {
                self.sql.push(" AND ");
            }
            self.json_leaf(alias, column, &keys, leaf);
        }
        self.sql.push(")");
    }

    /// SQLite: the value at `keys` in the column is `leaf`. Keys are matched through
    /// `json_each` as bound values rather than spelled into a JSON path, which cannot
    /// name every key the same way on every SQLite: 3.40 reads no escape in a quoted
    /// label (a key with `"` never matched), the bundled 3.51 does (so a `\` in a key
    /// was read as one).
    fn json_leaf(&mut self, alias: &str, column: &str, keys: &[&str], leaf: &Json) {
        let operand = {
            let mut operand = Sql::new(self.sql.backend);
            operand.column(alias, column);
            operand.text().to_owned()
        };
        if keys.is_empty() {
            // The stored value itself (a `matches` that is not an object).
            self.json_is(
                &format!("json_type({operand})"),
                &format!("json_extract({operand}, '$')"),
                leaf,
            );
            return;
        }
        // EXISTS (SELECT 1 FROM json_each(col) t1 WHERE t1.key = ? AND
        //   EXISTS (SELECT 1 FROM json_each(<t1.value if an object>) t2 WHERE t2.key = ? AND <leaf>))
        let mut parent = operand;
        for (depth, key) in keys.iter().enumerate() {
            let each = self.alias();
            self.sql
                .push("EXISTS (SELECT 1 FROM json_each(")
                .push(&parent)
                .push(") ")
                .push(&each)
                .push(" WHERE ")
                .push(&each)
                .push(".key = ")
                .bind((*key).into())
                .push(" AND ");
            if depth + 1 < keys.len() {
                // Only an object has the next key. Anything else goes to json_each as
                // NULL (no rows) rather than as text it would fail to parse, whatever
                // order the planner evaluates the terms in.
                parent = format!("CASE WHEN {each}.type = 'object' THEN {each}.value END");
            } else {
                self.json_is(&format!("{each}.type"), &format!("{each}.value"), leaf);
            }
        }
        for _ in keys {
            self.sql.push(")");
        }
    }

    /// The JSON value whose SQLite `type` and SQL `value` are these equals `leaf`.
    fn json_is(&mut self, ty: &str, value: &str, leaf: &Json) {
        match leaf {
            Json::Null => {
                self.sql.push(ty).push(" = 'null'");
            }
            Json::Bool(b) => {
                self.sql
                    .push(ty)
                    .push(if *b { " = 'true'" } else { " = 'false'" });
            }
            Json::Number(n) => {
                self.sql
                    .push(ty)
                    .push(" IN ('integer', 'real') AND ")
                    .push(value)
                    .push(" = ");
                match n.as_i64() {
                    Some(i) => self.sql.bind(i.into()),
                    None => self.sql.bind(n.as_f64().unwrap_or(0.0).into()),
                };
            }
            Json::String(s) => {
                self.sql
                    .push(ty)
                    .push(" = 'text' AND ")
                    .push(value)
                    .push(" = ")
                    .bind(s.clone().into());
            }
            // An empty object: the key holds an object.
            Json::Object(_) => {
                self.sql.push(ty).push(" = 'object'");
            }
            // Arrays compare as minified JSON text, which is what SQLite gives for one.
            array => {
                self.sql
                    .push(ty)
                    .push(" = 'array' AND ")
                    .push(value)
                    .push(" = json(")
                    .bind(array.to_string().into())
                    .push(")");
            }
        }
    }
}

/// The leaves of a `matches` object with the keys that lead to each; an empty object
/// below the top is a leaf of its own (the key must hold an object).
fn flatten<'a>(keys: &mut Vec<&'a str>, value: &'a Json, out: &mut Vec<(Vec<&'a str>, &'a Json)>) {
    match value {
        Json::Object(map) if !map.is_empty() || keys.is_empty() => {
            for (k, v) in map {
                keys.push(k);
                flatten(keys, v, out);
                keys.pop();
            }
        }
        leaf => out.push((keys.clone(), leaf)),
    }
}

/// Escape `%`, `_` and the escape character itself for `LIKE ... ESCAPE '\'`.
pub fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
