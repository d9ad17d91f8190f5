//! A fake BigCommerce (issue 5).
