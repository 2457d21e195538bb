//! The events of `app.bsky.feed.sendInteractions`: what a viewer did with a
//! post a feed showed them.

use std::fmt;

/// Prefix every interaction token shares (`app.bsky.feed.defs#…`).
const TOKEN_PREFIX: &str = "app.bsky.feed.defs#";

/// One lexicon interaction event. The discriminants are stable: stores
/// persist them as one byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum InteractionEvent {
    RequestLess = 1,
    RequestMore = 2,
    Seen = 3,
    Like = 4,
    Repost = 5,
    Reply = 6,
    Quote = 7,
    Share = 8,
    ClickthroughItem = 9,
    ClickthroughAuthor = 10,
    ClickthroughReposter = 11,
    ClickthroughEmbed = 12,
}

/// Every event, in discriminant order.
pub const INTERACTION_EVENTS: [InteractionEvent; 12] = [
    InteractionEvent::RequestLess,
    InteractionEvent::RequestMore,
    InteractionEvent::Seen,
    InteractionEvent::Like,
    InteractionEvent::Repost,
    InteractionEvent::Reply,
    InteractionEvent::Quote,
    InteractionEvent::Share,
    InteractionEvent::ClickthroughItem,
    InteractionEvent::ClickthroughAuthor,
    InteractionEvent::ClickthroughReposter,
    InteractionEvent::ClickthroughEmbed,
];

impl InteractionEvent {
    /// The lexicon token's fragment, e.g. `requestLess`.
    pub fn name(self) -> &'static str {
        match self {
            InteractionEvent::RequestLess => "requestLess",
            InteractionEvent::RequestMore => "requestMore",
            InteractionEvent::Seen => "interactionSeen",
            InteractionEvent::Like => "interactionLike",
            InteractionEvent::Repost => "interactionRepost",
            InteractionEvent::Reply => "interactionReply",
            InteractionEvent::Quote => "interactionQuote",
            InteractionEvent::Share => "interactionShare",
            InteractionEvent::ClickthroughItem => "clickthroughItem",
            InteractionEvent::ClickthroughAuthor => "clickthroughAuthor",
            InteractionEvent::ClickthroughReposter => "clickthroughReposter",
            InteractionEvent::ClickthroughEmbed => "clickthroughEmbed",
        }
    }

    /// Parses a full token (`app.bsky.feed.defs#requestLess`). Unknown
    /// tokens are `None`: the lexicon's token set is open, and clients
    /// newer than us may send events we do not know.
    pub fn from_token(token: &str) -> Option<Self> {
        let name = token.strip_prefix(TOKEN_PREFIX)?;
        INTERACTION_EVENTS.into_iter().find(|e| e.name() == name)
    }

    /// The one-byte code stores persist.
    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn from_code(code: u8) -> Option<Self> {
        INTERACTION_EVENTS.into_iter().find(|e| e.code() == code)
    }
}

impl fmt::Display for InteractionEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{TOKEN_PREFIX}{}", self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_codes_round_trip() {
        for event in INTERACTION_EVENTS {
            assert_eq!(
                InteractionEvent::from_token(&event.to_string()),
                Some(event)
            );
            assert_eq!(InteractionEvent::from_code(event.code()), Some(event));
        }
        assert_eq!(
            InteractionEvent::from_token("app.bsky.feed.defs#requestLess"),
            Some(InteractionEvent::RequestLess)
        );
    }

    #[test]
    fn unknown_tokens_and_codes_are_none() {
        for token in [
            "",
            "requestLess",
            "app.bsky.feed.defs#",
            "app.bsky.feed.defs#somethingNew",
            "com.example#requestLess",
        ] {
            assert_eq!(InteractionEvent::from_token(token), None, "{token}");
        }
        assert_eq!(InteractionEvent::from_code(0), None);
        assert_eq!(InteractionEvent::from_code(13), None);
    }
}
