//! The document pre-check: what a GraphQL document costs to validate and run, computed
//! from its text before async-graphql sees it, and its refusal when that is too much.
//!
//! async-graphql walks every fragment spread again for each place it is spread, with no
//! memoisation (the recursion check, the directive check, the depth and complexity
//! visitors), and compares its limits only after the whole walk. A document under 1 KB
//! whose fragments each spread the next one four times asks for 4^20 visits and pins a
//! core for good, synchronously, where no timeout can stop it. Here the document is
//! parsed once (linear) and every fragment is sized once, in dependency order, so the
//! cost of the check is linear in the text whatever the document expands to.
//!
//! Before that parse, a scan of the bytes refuses documents nested deeper than
//! [`MAX_NESTING`] brackets: the parser itself recurses once per level.

use super::errors::INVALID_QUERY_INPUT;
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationType, Selection, SelectionSet,
};
use async_graphql::{Name, Positioned};
use std::collections::HashMap;

/// Bounds on a document, after every fragment is expanded where it is spread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocumentLimits {
    /// `BCGRAPH_MAX_QUERY_SELECTIONS`: selections (fields, spreads, inline fragments).
    pub selections: u64,
    /// `BCGRAPH_MAX_QUERY_DEPTH`: nesting of fields (also async-graphql's depth limit).
    pub depth: usize,
    /// `BCGRAPH_MAX_QUERY_ALIASES`: aliased fields.
    pub aliases: u64,
    /// `BCGRAPH_MAX_QUERY_DIRECTIVES`: directives.
    pub directives: u64,
    /// `BCGRAPH_MAX_QUERY_FRAGMENTS`: fragment definitions, and fragment spreads in the text.
    pub fragments: usize,
    /// `BCGRAPH_MAX_QUERY_OPERATIONS`: operations in one document.
    pub operations: usize,
}

pub const DEFAULT_MAX_SELECTIONS: u64 = 10_000;
pub const DEFAULT_MAX_DEPTH: usize = 16;
pub const DEFAULT_MAX_ALIASES: u64 = 200;
pub const DEFAULT_MAX_DIRECTIVES: u64 = 200;
pub const DEFAULT_MAX_FRAGMENTS: usize = 500;
pub const DEFAULT_MAX_OPERATIONS: usize = 20;

/// Most directives on one field (async-graphql's own per-field check). The documents'
/// total is bounded by [`DocumentLimits::directives`]; this only keeps the library's
/// check, which runs after ours, from ever being the one that answers.
pub const MAX_DIRECTIVES_PER_FIELD: usize = 16;

impl Default for DocumentLimits {
    fn default() -> Self {
        DocumentLimits {
            selections: DEFAULT_MAX_SELECTIONS,
            depth: DEFAULT_MAX_DEPTH,
            aliases: DEFAULT_MAX_ALIASES,
            directives: DEFAULT_MAX_DIRECTIVES,
            fragments: DEFAULT_MAX_FRAGMENTS,
            operations: DEFAULT_MAX_OPERATIONS,
        }
    }
}

/// What a document amounts to once expanded. Counts saturate rather than overflow: a
/// fan-out document's true size does not fit in any integer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Size {
    pub selections: u64,
    pub aliases: u64,
    pub directives: u64,
    /// Deepest field nesting.
    pub depth: usize,
}

impl Size {
    fn add(&mut self, other: &Size) {
        self.selections = self.selections.saturating_add(other.selections);
        self.aliases = self.aliases.saturating_add(other.aliases);
        self.directives = self.directives.saturating_add(other.directives);
    }
}

/// A request that passed the check: its document is parsed already (async-graphql
/// reuses it) and the operation it runs is known.
pub struct Checked {
    pub request: async_graphql::Request,
    /// The type of the operation the request selects, when the document names one.
    pub operation: Option<OperationType>,
}

impl Checked {
    pub fn is_subscription(&self) -> bool {
        self.operation == Some(OperationType::Subscription)
    }
}

/// Why a document is refused: the message names the limit and its setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

impl Refused {
    /// The refusal as the single error of a response with `data: null`.
    pub fn response(&self) -> async_graphql::Response {
        super::errors::refusal(INVALID_QUERY_INPUT, &self.0)
    }
}

/// Check `request`'s document against `limits`: first its bracket nesting
/// ([`check_nesting`], before anything parses it), then its expanded size. A document
/// that does not parse passes untouched: async-graphql reports the syntax error as usual.
pub fn check(mut request: async_graphql::Request, limits: &DocumentLimits) -> Result<Checked, Refused> {
    let document = match parsed::get(&request.query, limits) {
        Some(document) => document,
        None => {
            check_nesting(&request.query, MAX_NESTING)?;
            let document = match async_graphql::parser::parse_query(&request.query) {
                Ok(document) => document,
                Err(_) => {
                    return Ok(Checked {
                        request,
                        operation: None,
                    });
                }
            };
            measure(&document, limits)?;
            parsed::keep(&request.query, limits, &document);
            document
        }
    };
    check_strings(&request.variables, &document)?;
    let operation = operation_type(&document, request.operation_name.as_deref());
    request.set_parsed_query(document);
    Ok(Checked { request, operation })
}

/// Documents that passed the check, by their text: an app sends the same few
/// documents over and over, and parsing one (async-graphql's parser is a pest grammar)
/// was a tenth of a read's time in the gateway. A copy of a parsed document costs a
/// fraction of parsing it again.
mod parsed {
    use super::DocumentLimits;
    use async_graphql::parser::types::ExecutableDocument;
    use std::collections::HashMap;
    use std::sync::{Arc, LazyLock, Mutex};

    /// Longer texts are parsed every time rather than kept (the client's are 1-2 KB).
    const MAX_TEXT: usize = 8 * 1024;
    /// Text kept in all; past this the cache starts over. The check runs before
    /// authentication, so anyone can fill the cache: this bounds what they fill it
    /// with (a parsed document is some tens of times its text) to a few megabytes.
    const MAX_TOTAL_TEXT: usize = 256 * 1024;

    #[derive(Default)]
    struct Documents {
        by_text: HashMap<String, (DocumentLimits, Arc<ExecutableDocument>)>,
        text_bytes: usize,
    }
    static DOCUMENTS: LazyLock<Mutex<Documents>> = LazyLock::new(Mutex::default);

    /// A copy of `text`'s document, if it passed the check under these `limits` before.
    pub(super) fn get(text: &str, limits: &DocumentLimits) -> Option<ExecutableDocument> {
        let found = {
            let documents = DOCUMENTS.lock().unwrap_or_else(|e| e.into_inner());
            match documents.by_text.get(text) {
                Some((checked_under, document)) if checked_under == limits => Some(document.clone()),
                _ => None,
            }
        };
        // Copied outside the lock: other requests need not wait for it.
        found.map(|document| ExecutableDocument::clone(&document))
    }

    /// Keep `document`, which passed the check under `limits`.
    pub(super) fn keep(text: &str, limits: &DocumentLimits, document: &ExecutableDocument) {
        if text.len() > MAX_TEXT {
            return;
        }
        let kept = Arc::new(document.clone());
        let mut documents = DOCUMENTS.lock().unwrap_or_else(|e| e.into_inner());
        if documents.text_bytes + text.len() > MAX_TOTAL_TEXT {
            *documents = Documents::default();
        }
        if documents.by_text.insert(text.to_owned(), (limits.clone(), kept)).is_none() {
            documents.text_bytes += text.len();
        }
    }
}

/// Deepest bracket nesting (`{`, `[` and `(` together) a document may have. Fixed:
/// the client's documents nest about 12 deep, and this is what keeps every recursive
/// walk of a document (the parsers, validation, dropping the tree) within its stack.
pub const MAX_NESTING: usize = 128;

/// Refuse a document whose brackets nest deeper than `max`, counting `{`, `[` and `(`
/// outside strings, block strings and comments. A linear scan of the bytes that runs
/// before anything parses the text: async-graphql's parser recurses once per level of
/// selection sets, values and list types with no limit of its own on values (pest's stack
/// guard stops only the grammar), so 1,500 levels of object values (6 KB) overflowed the
/// stack and aborted the process. The scan lexes strings and comments as the parser does,
/// so what it skips the parser skips too; an unbalanced `}` only lowers the count.
pub fn check_nesting(text: &str, max: usize) -> Result<(), Refused> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' | b'[' | b'(' => {
                depth += 1;
                if depth > max {
                    return Err(Refused(format!(
                        "the document nests brackets (`{{`, `[`, `(`) more than {max} deep; at most {max} levels are allowed"
                    )));
                }
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            // A comment runs to the end of its line.
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                // A block string ends at the next `"""` that is not `\"""`.
                i += 3;
                while i < bytes.len() {
                    if bytes[i..].starts_with(b"\\\"\"\"") {
                        i += 4;
                    } else if bytes[i..].starts_with(b"\"\"\"") {
                        i += 2;
                        break;
                    } else {
                        i += 1;
                    }
                }
            }
            b'"' => {
                // A string ends at the next unescaped `"`, or (unterminated, which the
                // parser refuses) at the end of its line.
                i += 1;
                while i < bytes.len() {
                    match bytes[i] {
                        b'\\' => i += 2,
                        b'"' | b'\n' | b'\r' => break,
                        _ => i += 1,
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// Refuse a request with the NUL character (U+0000) in a string of its variables (keys
/// included) or of its document's values (an escape, `"\u0000"`). PostgreSQL stores it
/// in neither `text` nor `jsonb`, so it reached the database as an internal error there
/// (and was stored on SQLite); checked here, it is bad input on both, whatever action or
/// argument it was meant for. Cursors, which carry text the client cannot see, are checked
/// where they are decoded.
pub fn check_strings(
    variables: &async_graphql::Variables,
    document: &ExecutableDocument,
) -> Result<(), Refused> {
    let refused = || {
        Refused(
            "a string of the request contains the NUL character (U+0000), which cannot be stored".to_owned(),
        )
    };
    if variables
        .iter()
        .any(|(name, value)| name.contains('\0') || has_nul(value))
    {
        return Err(refused());
    }
    let mut sets: Vec<&Positioned<SelectionSet>> = Vec::new();
    for (_, op) in document.operations.iter() {
        for definition in &op.node.variable_definitions {
            if definition
                .node
                .default_value
                .as_ref()
                .is_some_and(|v| has_nul(&v.node))
            {
                return Err(refused());
            }
        }
        sets.push(&op.node.selection_set);
    }
    sets.extend(document.fragments.values().map(|f| &f.node.selection_set));
    // Iterative: selection sets nest as deep as the parser allowed.
    while let Some(set) = sets.pop() {
        for item in &set.node.items {
            let (arguments, directives, inner) = match &item.node {
                Selection::Field(field) => (
                    &field.node.arguments[..],
                    &field.node.directives,
                    Some(&field.node.selection_set),
                ),
                Selection::InlineFragment(inline) => {
                    (&[][..], &inline.node.directives, Some(&inline.node.selection_set))
                }
                Selection::FragmentSpread(spread) => (&[][..], &spread.node.directives, None),
            };
            let values = arguments
                .iter()
                .chain(directives.iter().flat_map(|d| d.node.arguments.iter()))
                .map(|(_, value)| &value.node);
            for value in values {
                // Variables stand for values checked above.
                let value = value
                    .clone()
                    .into_const_with(|_| Ok::<_, std::convert::Infallible>(async_graphql::Value::Null));
                if value.as_ref().is_ok_and(has_nul) {
                    return Err(refused());
                }
            }
            sets.extend(inner);
        }
    }
    Ok(())
}

/// Whether a string or key of `value` holds the NUL character.
fn has_nul(value: &async_graphql::Value) -> bool {
    use async_graphql::Value;
    match value {
        Value::String(s) => s.contains('\0'),
        Value::List(items) => items.iter().any(has_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        Value::Enum(name) => name.contains('\0'),
        _ => false,
    }
}

/// The type of the operation `name` selects (the only one when unnamed).
pub fn operation_type(document: &ExecutableDocument, name: Option<&str>) -> Option<OperationType> {
    match (&document.operations, name) {
        (DocumentOperations::Single(op), _) => Some(op.node.ty),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| op.node.ty),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
            ops.values().next().map(|op| op.node.ty)
        }
        (DocumentOperations::Multiple(_), None) => None,
    }
}

/// Size `document` and refuse it when any count is over its limit.
pub fn measure(document: &ExecutableDocument, limits: &DocumentLimits) -> Result<Size, Refused> {
    let operations: Vec<_> = document.operations.iter().map(|(_, op)| op).collect();
    if operations.len() > limits.operations {
        return Err(Refused(format!(
            "the document has {} operations; at most {} are allowed (BCGRAPH_MAX_QUERY_OPERATIONS)",
            operations.len(),
            limits.operations
        )));
    }
    if document.fragments.len() > limits.fragments {
        return Err(Refused(format!(
            "the document defines {} fragments; at most {} are allowed (BCGRAPH_MAX_QUERY_FRAGMENTS)",
            document.fragments.len(),
            limits.fragments
        )));
    }
    // Which fragments each fragment spreads, and how many spreads the text has.
    let mut spreads_in_text = 0usize;
    let mut uses: HashMap<&Name, Vec<&Name>> = HashMap::with_capacity(document.fragments.len());
    for (name, fragment) in &document.fragments {
        let mut used = Vec::new();
        spreads_of(&fragment.node.selection_set, &mut used);
        spreads_in_text += used.len();
        used.sort_unstable();
        used.dedup();
        uses.insert(name, used);
    }
    for op in &operations {
        let mut used = Vec::new();
        spreads_of(&op.node.selection_set, &mut used);
        spreads_in_text += used.len();
    }
    if spreads_in_text > limits.fragments {
        return Err(Refused(format!(
            "the document has {spreads_in_text} fragment spreads; at most {} are allowed (BCGRAPH_MAX_QUERY_FRAGMENTS)",
            limits.fragments
        )));
    }
    let order = dependency_order(&uses)?;
    // Each fragment sized once, after every fragment it spreads.
    let mut sizes: HashMap<&Name, Size> = HashMap::with_capacity(order.len());
    for name in order {
        let Some(fragment) = document.fragments.get(name) else {
            continue;
        };
        let mut size = size_of(&fragment.node.selection_set, &sizes);
        size.directives = size
            .directives
            .saturating_add(fragment.node.directives.len() as u64);
        sizes.insert(name, size);
    }
    // Validation walks every operation expanded, and every fragment definition too.
    let mut total = Size::default();
    for op in &operations {
        let mut size = size_of(&op.node.selection_set, &sizes);
        size.directives = size.directives.saturating_add(op.node.directives.len() as u64);
        total.add(&size);
        total.depth = total.depth.max(size.depth);
    }
    for size in sizes.values() {
        total.add(size);
        total.depth = total.depth.max(size.depth);
    }
    let over = |what: &str, count: u64, limit: u64, setting: &str| {
        Refused(format!(
            "the document has {count} {what} once its fragments are expanded; at most {limit} are allowed ({setting})"
        ))
    };
    if total.selections > limits.selections {
        return Err(over(
            "selections",
            total.selections,
            limits.selections,
            "BCGRAPH_MAX_QUERY_SELECTIONS",
        ));
    }
    if total.depth > limits.depth {
        return Err(Refused(format!(
            "the document nests fields {} deep; at most {} is allowed (BCGRAPH_MAX_QUERY_DEPTH)",
            total.depth, limits.depth
        )));
    }
    if total.aliases > limits.aliases {
        return Err(over(
            "aliases",
            total.aliases,
            limits.aliases,
            "BCGRAPH_MAX_QUERY_ALIASES",
        ));
    }
    if total.directives > limits.directives {
        return Err(over(
            "directives",
            total.directives,
            limits.directives,
            "BCGRAPH_MAX_QUERY_DIRECTIVES",
        ));
    }
    Ok(total)
}

/// The fragment names spread anywhere in `set` (inline fragments included).
fn spreads_of<'a>(set: &'a Positioned<SelectionSet>, out: &mut Vec<&'a Name>) {
    for item in &set.node.items {
        match &item.node {
            Selection::Field(field) => spreads_of(&field.node.selection_set, out),
            Selection::InlineFragment(inline) => spreads_of(&inline.node.selection_set, out),
            Selection::FragmentSpread(spread) => out.push(&spread.node.fragment_name.node),
        }
    }
}

/// Fragments ordered so that each comes after every fragment it spreads; a cycle is
/// refused (async-graphql would recurse around it until its depth limit, exponentially
/// with the fan-out). Iterative, so a long chain of fragments cannot exhaust the stack.
fn dependency_order<'a>(uses: &HashMap<&'a Name, Vec<&'a Name>>) -> Result<Vec<&'a Name>, Refused> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    let mut marks: HashMap<&Name, Mark> = HashMap::with_capacity(uses.len());
    let mut order = Vec::with_capacity(uses.len());
    let mut names: Vec<&&Name> = uses.keys().collect();
    // A stable order, so that the same document is refused with the same message.
    names.sort_unstable();
    for &root in names {
        if marks.contains_key(root) {
            continue;
        }
        // (fragment, index of the next dependency to visit)
        let mut stack: Vec<(&Name, usize)> = vec![(root, 0)];
        marks.insert(root, Mark::Open);
        while let Some((name, next)) = stack.last_mut() {
            let deps = uses.get(*name).map(Vec::as_slice).unwrap_or_default();
            if let Some(dep) = deps.get(*next) {
                *next += 1;
                // A spread of an unknown fragment is async-graphql's error to report.
                if !uses.contains_key(*dep) {
                    continue;
                }
                match marks.get(*dep) {
                    Some(Mark::Done) => {}
                    Some(Mark::Open) => {
                        return Err(Refused(format!(
                            "fragment `{dep}` spreads itself (through `{name}`); fragments may not form cycles"
                        )));
                    }
                    None => {
                        marks.insert(*dep, Mark::Open);
                        stack.push((*dep, 0));
                    }
                }
            } else {
                marks.insert(*name, Mark::Done);
                order.push(*name);
                stack.pop();
            }
        }
    }
    Ok(order)
}

/// The expanded size of `set`, with the fragments it spreads already sized.
fn size_of(set: &Positioned<SelectionSet>, fragments: &HashMap<&Name, Size>) -> Size {
    let mut size = Size::default();
    for item in &set.node.items {
        size.selections = size.selections.saturating_add(1);
        match &item.node {
            Selection::Field(field) => {
                let field = &field.node;
                if field.alias.is_some() {
                    size.aliases = size.aliases.saturating_add(1);
                }
                size.directives = size.directives.saturating_add(field.directives.len() as u64);
                let inner = size_of(&field.selection_set, fragments);
                size.add(&inner);
                size.depth = size.depth.max(inner.depth + 1);
            }
            Selection::InlineFragment(inline) => {
                let inline = &inline.node;
                size.directives = size.directives.saturating_add(inline.directives.len() as u64);
                let inner = size_of(&inline.selection_set, fragments);
                size.add(&inner);
                size.depth = size.depth.max(inner.depth);
            }
            Selection::FragmentSpread(spread) => {
                let spread = &spread.node;
                size.directives = size.directives.saturating_add(spread.directives.len() as u64);
                if let Some(inner) = fragments.get(&spread.fragment_name.node) {
                    size.add(inner);
                    size.depth = size.depth.max(inner.depth);
                }
            }
        }
    }
    size
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deepest(text: &str) -> usize {
        (0..=MAX_NESTING + 1)
            .find(|max| check_nesting(text, *max).is_ok())
            .unwrap_or(usize::MAX)
    }

    /// A document kept after passing under loose limits is checked again under tight
    /// ones (another gateway in the process), and its variables every time.
    #[test]
    fn kept_documents_are_checked_under_each_gateways_limits_and_variables() {
        let text = "query Kept($s: String) { a b c d { e f } }";
        let request = || async_graphql::Request::new(text);
        assert!(check(request(), &DocumentLimits::default()).is_ok());
        assert!(check(request(), &DocumentLimits::default()).is_ok());
        let tight = DocumentLimits {
            selections: 3,
            ..DocumentLimits::default()
        };
        let refused = check(request(), &tight).err().expect("refused under 3 selections");
        assert!(refused.0.contains("BCGRAPH_MAX_QUERY_SELECTIONS"), "{}", refused.0);
        let nul = async_graphql::Variables::from_json(serde_json::json!({"s": "a\u{0}b"}));
        assert!(check(request().variables(nul), &DocumentLimits::default()).is_err(), "variables are checked every time");
    }

    #[test]
    fn nesting_counts_brackets_outside_strings_and_comments() {
        assert_eq!(deepest("{ a { b(x: [[1]]) } }"), 5);
        assert_eq!(deepest("query($v: [[Int]]) { a }"), 3);
        // Closing brackets lower the count; extra ones do not make room.
        assert_eq!(deepest("{}{}{}{ { } }"), 2);
        assert_eq!(deepest("}}}}{{"), 2);
        // Strings, block strings, escapes and comments hide brackets.
        assert_eq!(deepest(r#"{ a(x: "[[[{{{(((") }"#), 2);
        assert_eq!(deepest(r#"{ a(x: "\"[[[\\") }"#), 2);
        assert_eq!(deepest("{ a(x: \"\"\"[[\\\"\"\"[[\"[[\"\"\") }"), 2);
        assert_eq!(deepest("{ a # [[[[[[\n b }"), 1);
        assert_eq!(deepest("{ a # [[[[[[\r[ b ] }"), 2);
        // An unterminated string ends at its line (the parser refuses it there).
        assert_eq!(deepest("{ a(x: \"[[[\n[[) }"), 4);
        assert_eq!(deepest("\"\"\"[[["), 0);
        assert_eq!(deepest(""), 0);
    }

    #[test]
    fn nesting_past_the_limit_is_refused_with_a_message() {
        let at = format!("{}{}", "[".repeat(MAX_NESTING), "]".repeat(MAX_NESTING));
        assert!(check_nesting(&at, MAX_NESTING).is_ok());
        let over = format!("[{at}]");
        let refused = check_nesting(&over, MAX_NESTING).unwrap_err();
        assert!(refused.0.contains("at most 128"), "{}", refused.0);
        // The scan stops at the first level too many, whatever follows.
        assert!(check_nesting(&"{".repeat(10_000_000), MAX_NESTING).is_err());
    }
}
