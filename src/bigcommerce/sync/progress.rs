//! A sync's progress as its row keeps it: the [`Counters`] of each resource, and the
//! [`Checkpoint`] where each resource's work continues. [`Checkpoint::advance`] is the
//! state machine a resource walks page by page: each lane of its listing, then (for an
//! incremental sync) a sweep of every lane for deletions, then done.

use super::resource::Position;
use serde::{Deserialize, Serialize};

/// One resource's (or child model's) tally.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Counters {
    pub pages: u64,
    pub seen: u64,
    pub created: u64,
    pub updated: u64,
    /// Listed again with nothing new (an incremental sync's overlap, whole listings).
    pub unchanged: u64,
    pub deleted: u64,
    pub failed: u64,
    pub done: bool,
}

impl Counters {
    pub(super) fn add(&mut self, other: &Counters) {
        self.pages += other.pages;
        self.seen += other.seen;
        self.created += other.created;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
        self.deleted += other.deleted;
        self.failed += other.failed;
    }
}

/// Where a resource's work stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Phase {
    /// Writing what the listing returns.
    #[default]
    Write,
    /// Listing ids only, to delete what BigCommerce no longer has (incremental syncs).
    Sweep,
    Done,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Checkpoint {
    pub phase: Phase,
    pub lane: u8,
    #[serde(flatten)]
    pub at: Position,
}

impl Checkpoint {
    /// Move past a page of the current pass: `next` is where its listing continues,
    /// `end` whether the page was the lane's last. At a lane's end the work goes on with
    /// the next lane, then (`incremental`, after the writing pass) with a sweep of every
    /// lane from the first, and is done after the last lane of the last pass. Answers
    /// whether the current pass over the lane is over.
    pub(crate) fn advance(&mut self, next: Position, end: bool, lanes: u8, incremental: bool) -> bool {
        if !end {
            self.at = next;
            return false;
        }
        self.at = Position::default();
        if self.lane + 1 < lanes {
            self.lane += 1;
        } else if self.phase != Phase::Sweep && incremental {
            self.lane = 0;
            self.phase = Phase::Sweep;
        } else {
            self.phase = Phase::Done;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(last_id: i64) -> Position {
        Position {
            last_id: Some(last_id),
            ..Default::default()
        }
    }

    fn checkpoint(phase: Phase, lane: u8, at: Position) -> Checkpoint {
        Checkpoint { phase, lane, at }
    }

    #[test]
    fn a_page_before_the_end_only_moves_the_position() {
        for phase in [Phase::Write, Phase::Sweep] {
            let mut c = checkpoint(phase, 1, at(10));
            assert!(!c.advance(at(20), false, 3, true));
            assert_eq!(c, checkpoint(phase, 1, at(20)));
        }
    }

    #[test]
    fn the_end_of_a_lane_starts_the_next_lane_from_the_beginning() {
        let mut c = checkpoint(Phase::Write, 0, at(10));
        assert!(c.advance(at(20), true, 2, false));
        assert_eq!(c, checkpoint(Phase::Write, 1, Position::default()));
        let mut c = checkpoint(Phase::Sweep, 0, at(10));
        assert!(c.advance(at(20), true, 2, true));
        assert_eq!(c, checkpoint(Phase::Sweep, 1, Position::default()));
    }

    #[test]
    fn an_incremental_write_ends_in_a_sweep_of_the_first_lane() {
        let mut c = checkpoint(Phase::Write, 1, at(10));
        assert!(c.advance(at(20), true, 2, true));
        assert_eq!(c, checkpoint(Phase::Sweep, 0, Position::default()));
    }

    #[test]
    fn the_last_lane_of_a_sweep_is_the_end() {
        let mut c = checkpoint(Phase::Sweep, 1, at(10));
        assert!(c.advance(at(20), true, 2, true));
        assert_eq!(c, checkpoint(Phase::Done, 1, Position::default()));
    }

    #[test]
    fn a_full_sync_ends_after_its_last_lane_without_a_sweep() {
        let mut c = checkpoint(Phase::Write, 0, at(10));
        assert!(c.advance(at(20), true, 1, false));
        assert_eq!(c, checkpoint(Phase::Done, 0, Position::default()));
    }

    #[test]
    fn every_lane_of_every_pass_is_walked_once() {
        let (lanes, mut c, mut passes) = (3, Checkpoint::default(), Vec::new());
        while c.phase != Phase::Done {
            passes.push((c.phase, c.lane));
            assert!(c.advance(at(1), true, lanes, true));
        }
        assert_eq!(
            passes,
            [
                (Phase::Write, 0),
                (Phase::Write, 1),
                (Phase::Write, 2),
                (Phase::Sweep, 0),
                (Phase::Sweep, 1),
                (Phase::Sweep, 2),
            ]
        );
    }
}
