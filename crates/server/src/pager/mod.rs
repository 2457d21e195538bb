//! Paging: a ranked list is computed once per session and cached; the
//! opaque cursor names the session and the offset of the next page, so
//! pages of one session never repeat a post.
//!
//! What a session has served is kept apart from its list, smaller and
//! longer: when the list is gone (expired or evicted), the next page is
//! recomputed without what was served, so paging neither repeats nor skips
//! a post. With a shared store both are kept in its cache
//! (`Store::cache_set`), so a cursor continues on any replica; when the
//! store cannot be reached, a page is recomputed and continues at the
//! cursor's offset (counted as `expired`).
//!
//! Cursors are signed (`cursor`) with keys every replica of one store
//! shares without setup (`keys`); one signed by a key no longer held
//! starts the feed over instead of failing.
//!
//! Chronological feeds need none of that: their cursor is a position in
//! the order every replica shares (`position`).

mod codec;
mod cursor;
pub mod keys;
pub mod position;
mod sessions;

pub use cursor::{CURSOR_LEN, Cursor, CursorKey, CursorKeys, CursorScope, Decoded};
pub use sessions::{Served, Session, Sessions, served_hash};
