//! Fields that answer from their parent value. Most object fields of the schema resolve
//! at once from a value their parent field handed down (an action's result, an error, a
//! background action's handle); they fail only when that value is not the type the
//! field was written for, which is a bug in the schema, not in the request.

use async_graphql::dynamic::{Field, FieldFuture, FieldValue, ResolverContext, TypeRef};
use std::any::Any;

/// A resolver's answer that is an error. async-graphql has no ready-made failed
/// `FieldFuture`, so the error travels in a future that is already done.
pub(crate) fn fail<'a>(err: async_graphql::Error) -> FieldFuture<'a> {
    FieldFuture::Future(Box::pin(async move { Err(err) }))
}

/// Answer from the parent value, which must be a `T`.
pub(crate) fn from_parent<'a, T: Any>(
    ctx: &ResolverContext<'a>,
    answer: impl FnOnce(&'a T) -> Option<FieldValue<'a>>,
) -> FieldFuture<'a> {
    match ctx.parent_value.try_downcast_ref::<T>() {
        Ok(parent) => FieldFuture::Value(answer(parent)),
        Err(e) => fail(e),
    }
}

/// A field whose value `answer` reads from a parent value of type `T`.
pub(crate) fn parent_field<T: Any>(
    name: impl Into<String>,
    ty: impl Into<TypeRef>,
    answer: impl for<'a> Fn(&'a T) -> Option<FieldValue<'a>> + Send + Sync + 'static,
) -> Field {
    Field::new(name, ty, move |ctx| from_parent(&ctx, &answer))
}
