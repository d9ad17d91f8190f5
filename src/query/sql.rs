//! A small SQL writer: text plus bound values, with the placeholder style of the
//! backend. Identifiers come from the registry, never from input; every value
//! from input is bound, never spliced into the text.

use sea_orm::{DbBackend, Statement};

pub struct Sql {
    pub backend: DbBackend,
    text: String,
    values: Vec<sea_orm::Value>,
}

impl Sql {
    pub fn new(backend: DbBackend) -> Self {
        Sql {
            backend,
            text: String::with_capacity(256),
            values: Vec::new(),
        }
    }

    pub fn push(&mut self, s: &str) -> &mut Self {
        self.text.push_str(s);
        self
    }

    /// `"alias"."column"`
    pub fn column(&mut self, alias: &str, column: &str) -> &mut Self {
        self.text.push_str(alias);
        self.text.push_str(".\"");
        self.text.push_str(column);
        self.text.push('"');
        self
    }

    /// `"table"`
    pub fn ident(&mut self, name: &str) -> &mut Self {
        self.text.push('"');
        self.text.push_str(name);
        self.text.push('"');
        self
    }

    pub fn bind(&mut self, value: sea_orm::Value) -> &mut Self {
        self.values.push(value);
        match self.backend {
            DbBackend::Postgres => {
                self.text.push('$');
                self.text.push_str(&self.values.len().to_string());
            }
            _ => self.text.push('?'),
        }
        self
    }

    pub fn is_postgres(&self) -> bool {
        self.backend == DbBackend::Postgres
    }

    pub fn build(self) -> Statement {
        Statement::from_sql_and_values(self.backend, self.text, self.values)
    }

    pub fn text(&self) -> &str {
        &self.text
    }
}
