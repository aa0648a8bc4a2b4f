//! A configuration too big for one frame travels in pieces (`Message::ConfigPart`); this
//! concern puts the peer's back together. It owns the pieces held so far, and holds no more
//! than a configuration may hold, whatever the pieces claim.

use std::collections::BTreeMap;

#[derive(Clone, Debug, Default)]
pub(super) struct Pieces {
    generation: u64,
    count: u16,
    held: BTreeMap<u16, Vec<u8>>,
}

impl Pieces {
    /// Piece `index` of `count` of generation `generation`; the whole configuration's bytes
    /// once every piece of one generation is in. A piece of another generation or count
    /// starts again; one past `most` bytes in all, or out of range, drops what is held.
    pub(super) fn piece(
        &mut self,
        generation: u64,
        index: u16,
        count: u16,
        data: Vec<u8>,
        most: usize,
    ) -> Option<Vec<u8>> {
        if self.generation != generation || self.count != count {
            *self = Pieces {
                generation,
                count,
                held: BTreeMap::new(),
            };
        }
        let held: usize = self.held.values().map(Vec::len).sum();
        if index >= count || held + data.len() > most {
            *self = Pieces::default();
            return None;
        }
        self.held.insert(index, data);
        (self.held.len() == count as usize).then(|| {
            std::mem::take(&mut self.held)
                .into_values()
                .flatten()
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_in_any_order_make_the_whole_and_strays_start_again() {
        let mut p = Pieces::default();
        assert_eq!(p.piece(5, 1, 3, b"bb".to_vec(), 100), None);
        assert_eq!(p.piece(5, 0, 3, b"aa".to_vec(), 100), None);
        assert_eq!(p.piece(5, 1, 3, b"bb".to_vec(), 100), None, "a repeat");
        assert_eq!(
            p.piece(5, 2, 3, b"c".to_vec(), 100),
            Some(b"aabbc".to_vec())
        );
        // Another generation drops what an older one left.
        assert_eq!(p.piece(6, 0, 2, b"x".to_vec(), 100), None);
        assert_eq!(p.piece(7, 1, 2, b"z".to_vec(), 100), None);
        assert_eq!(p.piece(7, 0, 2, b"y".to_vec(), 100), Some(b"yz".to_vec()));
    }

    #[test]
    fn no_more_than_a_configuration_is_held_whatever_the_pieces_claim() {
        let mut p = Pieces::default();
        assert_eq!(p.piece(1, 0, 3, vec![0; 60], 100), None);
        assert_eq!(
            p.piece(1, 1, 3, vec![0; 60], 100),
            None,
            "past the limit: dropped"
        );
        assert_eq!(p.piece(1, 2, 3, vec![0; 10], 100), None, "started again");
        assert_eq!(p.piece(1, 5, 3, vec![0; 1], 100), None, "out of range");
        // Exactly as much as a configuration may hold is whole.
        let mut p = Pieces::default();
        assert_eq!(p.piece(2, 0, 2, vec![1; 60], 100), None);
        assert_eq!(
            p.piece(2, 1, 2, vec![2; 40], 100).map(|b| b.len()),
            Some(100)
        );
    }
}
