//! Path templates and query strings for BigCommerce requests.
//!
//! BigCommerce filter keys contain `:` (`id:in`, `date_modified:min`) and list values are
//! comma-joined (`id:in=1,2,3`), so the query is encoded here rather than by a generic form
//! encoder, which would escape both and make request logs harder to read.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::error::Error;

/// Everything but RFC 3986 unreserved characters is escaped in a path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Query keys keep `:` readable (`id:in`); it is legal in a query component.
const QUERY_KEY: &AsciiSet = &SEGMENT.remove(b':');

/// A value that can be sent as a path or query parameter.
pub trait ParamValue {
    /// The raw (unescaped) parts of this value; lists have several and are comma-joined.
    fn param_parts(&self) -> Vec<String>;
}

macro_rules! display_param {
    ($($t:ty),*) => {$(
        impl ParamValue for $t {
            fn param_parts(&self) -> Vec<String> {
                vec![self.to_string()]
            }
        }
    )*};
}
display_param!(
    i8, i16, i32, i64, u8, u16, u32, u64, usize, isize, bool, String, str, char
);

impl<T: ParamValue + ?Sized> ParamValue for &T {
    fn param_parts(&self) -> Vec<String> {
        (**self).param_parts()
    }
}

impl<T: ParamValue> ParamValue for [T] {
    fn param_parts(&self) -> Vec<String> {
        self.iter().flat_map(ParamValue::param_parts).collect()
    }
}

impl<T: ParamValue> ParamValue for Vec<T> {
    fn param_parts(&self) -> Vec<String> {
        self.as_slice().param_parts()
    }
}

impl<T: ParamValue, const N: usize> ParamValue for [T; N] {
    fn param_parts(&self) -> Vec<String> {
        self.as_slice().param_parts()
    }
}

impl<T: ParamValue> ParamValue for Option<T> {
    fn param_parts(&self) -> Vec<String> {
        self.as_ref().map(ParamValue::param_parts).unwrap_or_default()
    }
}

/// An ordered list of named parameters (path parameters or query parameters).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params(Vec<(String, Vec<String>)>);

impl Params {
    /// No parameters.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `key=value`, replacing an earlier value of the same key.
    pub fn with(mut self, key: impl Into<String>, value: impl ParamValue) -> Self {
        self.set(key, value);
        self
    }

    /// Sets `key=value`, replacing an earlier value of the same key.
    pub fn set(&mut self, key: impl Into<String>, value: impl ParamValue) {
        let key = key.into();
        let parts = value.param_parts();
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = parts,
            None => self.0.push((key, parts)),
        }
    }

    /// Drop `key`.
    pub fn remove(&mut self, key: &str) {
        self.0.retain(|(k, _)| k != key);
    }

    /// The value of `key`, as sent.
    pub fn get(&self, key: &str) -> Option<String> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.join(","))
    }

    /// No parameter at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `a=1&id:in=1,2,3`, escaped; a list with no element sends nothing.
    pub fn to_query_string(&self) -> String {
        let mut out = String::new();
        for (key, parts) in &self.0 {
            if parts.is_empty() {
                continue;
            }
            if !out.is_empty() {
                out.push('&');
            }
            out.extend(utf8_percent_encode(key, QUERY_KEY));
            out.push('=');
            for (i, part) in parts.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.extend(utf8_percent_encode(part, SEGMENT));
            }
        }
        out
    }
}

impl<K: Into<String>, V: ParamValue> FromIterator<(K, V)> for Params {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut params = Params::new();
        for (k, v) in iter {
            params.set(k, v);
        }
        params
    }
}

/// Fills `{name}` placeholders of `template` from `params`, escaping each value as one path
/// segment. Every placeholder must be given and every parameter used, so a typo fails loudly
/// instead of calling the wrong URL.
pub fn expand_path(template: &str, params: &Params) -> Result<String, Error> {
    let mut out = String::with_capacity(template.len() + 16);
    let mut used = vec![false; params.0.len()];
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| Error::InvalidRequest(format!("unclosed placeholder in path {template:?}")))?;
        let name = &after[..close];
        let index = params.0.iter().position(|(k, _)| k == name).ok_or_else(|| {
            Error::InvalidRequest(format!("missing path parameter {name:?} for {template:?}"))
        })?;
        used[index] = true;
        let value = params.0[index].1.join(",");
        if value.is_empty() {
            return Err(Error::InvalidRequest(format!(
                "empty path parameter {name:?} for {template:?}"
            )));
        }
        out.extend(utf8_percent_encode(&value, SEGMENT));
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    if let Some(unused) = used.iter().position(|u| !u) {
        return Err(Error::InvalidRequest(format!(
            "path parameter {:?} is not in {template:?}",
            params.0[unused].0
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_keeps_filter_syntax_readable_and_escapes_values() {
        let q = Params::new()
            .with("id:in", [1, 2, 3])
            .with("name:like", "a&b c/ü")
            .with("empty", Vec::<i64>::new());
        assert_eq!(q.to_query_string(), "id:in=1,2,3&name:like=a%26b%20c%2F%C3%BC");
    }

    #[test]
    fn path_placeholders_are_filled_and_checked() {
        let p = Params::new().with("product_id", 7).with("name", "a/b");
        assert_eq!(
            expand_path("/catalog/products/{product_id}/x/{name}", &p).unwrap(),
            "/catalog/products/7/x/a%2Fb"
        );
        assert!(expand_path("/catalog/products/{id}", &p).is_err());
        assert!(expand_path("/catalog/products/{product_id}", &p).is_err());
    }
}
