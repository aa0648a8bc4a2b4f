//! The on-disk layout of a disk link's device, and the blocks on it. Pure: bytes in, values
//! out, so every decoder can be fuzzed.
//!
//! ```text
//! offset        size       what
//! 0             4 KiB      disk header: "SUREHA-DISK\0", u32 version (1), u64 disk id
//!                          (random, from `havol init`)
//! 64 KiB        320 KiB    slot 0: the node named host1 of the link
//! 384 KiB       320 KiB    slot 1: host2
//!   slot + 0      4 KiB    beat block, written by that node's hahb-disk only: "SHBT", u32
//!                          version, node name (u8 length, bytes), u64 writer id (random per
//!                          hahb-disk run), u64 counter (one more on every write: the node's
//!                          heartbeat, and the renewal of its volume locks), then for each of
//!                          the 4 frame entries: u64 frame number (0 = empty), u32 length,
//!                          u32 CRC-32 of the frame
//!   slot + 4 KiB  4 KiB    lock block, written by that node's havol only (under a local
//!                          lock): "SHLK", u32 version, node name, u16 count, then per
//!                          service: name (u8 length, bytes), u32 epoch, u8 held (1) or
//!                          released (0)
//!   slot + 8 KiB  4×72 KiB frame entries: the sealed frames hasvrd gave hahb-disk, by frame
//!                          number modulo 4
//! 704 KiB                  end (a device of 1 MiB is plenty)
//! ```
//!
//! Every block ends with a CRC-32 of the rest of it (bytes 0..4092, big-endian at 4092), so
//! a torn or foreign block reads as unreadable, never as data. Integers are big-endian.
//!
//! Each node writes only its own slot, so no two writers ever race for a block: a node's
//! claim on a volume is its own lock block, and the claim lives as long as its beat counter
//! keeps moving (see `lease`).

use crate::frame::MAX_FRAME;

pub const BLOCK: usize = 4096;
pub const MAGIC: &[u8; 12] = b"SUREHA-DISK\0";
pub const VERSION: u32 = 1;
pub const ENTRIES: usize = 4;
pub const ENTRY_SIZE: usize = 72 * 1024;
pub const SLOT_SIZE: usize = 320 * 1024;
pub const FIRST_SLOT: u64 = 64 * 1024;
/// The smallest device `havol init` accepts.
pub const DEVICE_SIZE: u64 = FIRST_SLOT + 2 * SLOT_SIZE as u64;
/// Services a lock block can name: 256 names of up to 32 bytes fill most of a block at worst
/// (256 × 38 bytes would not fit, so names are counted on the real length).
pub const MAX_LOCKS: usize = 96;

const _: () = assert!(ENTRY_SIZE >= MAX_FRAME);
const _: () = assert!(2 * BLOCK + ENTRIES * ENTRY_SIZE <= SLOT_SIZE);

pub fn slot_offset(slot: usize) -> u64 {
    FIRST_SLOT + (slot as u64) * SLOT_SIZE as u64
}
pub fn beat_offset(slot: usize) -> u64 {
    slot_offset(slot)
}
pub fn lock_offset(slot: usize) -> u64 {
    slot_offset(slot) + BLOCK as u64
}
pub fn entry_offset(slot: usize, entry: usize) -> u64 {
    slot_offset(slot) + 2 * BLOCK as u64 + (entry as u64) * ENTRY_SIZE as u64
}

/// Why a block does not decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadBlock {
    /// All zero: never written (a fresh slot).
    Empty,
    /// Not ours, torn, or damaged.
    Damaged(&'static str),
}

impl std::fmt::Display for BadBlock {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            BadBlock::Empty => write!(f, "never written"),
            BadBlock::Damaged(why) => write!(f, "damaged ({why})"),
        }
    }
}

fn seal(mut b: Vec<u8>) -> Vec<u8> {
    b.resize(BLOCK, 0);
    let crc = crate::frame::crc32(&b[..BLOCK - 4]);
    b[BLOCK - 4..].copy_from_slice(&crc.to_be_bytes());
    b
}

fn unseal<'a>(b: &'a [u8], magic: &[u8]) -> Result<Cursor<'a>, BadBlock> {
    if b.len() != BLOCK {
        return Err(BadBlock::Damaged("short block"));
    }
    if b.iter().all(|&x| x == 0) {
        return Err(BadBlock::Empty);
    }
    let crc = u32::from_be_bytes([b[BLOCK - 4], b[BLOCK - 3], b[BLOCK - 2], b[BLOCK - 1]]);
    if crate::frame::crc32(&b[..BLOCK - 4]) != crc {
        return Err(BadBlock::Damaged("checksum"));
    }
    if &b[..magic.len()] != magic {
        return Err(BadBlock::Damaged("not a SureHA block"));
    }
    let mut c = Cursor {
        b: &b[..BLOCK - 4],
        at: magic.len(),
    };
    if c.u32()? != VERSION {
        return Err(BadBlock::Damaged("unknown version"));
    }
    Ok(c)
}

struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], BadBlock> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.b.len())
            .ok_or(BadBlock::Damaged("truncated"))?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, BadBlock> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, BadBlock> {
        let s = self.take(2)?;
        Ok(u16::from_be_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> Result<u32, BadBlock> {
        let s = self.take(4)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn u64(&mut self) -> Result<u64, BadBlock> {
        let s = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_be_bytes(a))
    }
    fn name(&mut self) -> Result<String, BadBlock> {
        let n = self.u8()? as usize;
        let s = self.take(n)?;
        let s = std::str::from_utf8(s).map_err(|_| BadBlock::Damaged("name"))?;
        if !crate::config::valid_name(s) {
            return Err(BadBlock::Damaged("name"));
        }
        Ok(s.to_string())
    }
}

fn put_name(o: &mut Vec<u8>, s: &str) {
    let b = &s.as_bytes()[..s.len().min(255)];
    o.push(b.len() as u8);
    o.extend_from_slice(b);
}

/// The disk header at offset 0.
pub fn header_block(disk_id: u64) -> Vec<u8> {
    let mut o = MAGIC.to_vec();
    o.extend_from_slice(&VERSION.to_be_bytes());
    o.extend_from_slice(&disk_id.to_be_bytes());
    seal(o)
}

/// The disk id of a header block.
pub fn decode_header(b: &[u8]) -> Result<u64, BadBlock> {
    unseal(b, MAGIC)?.u64()
}

/// One frame entry as the beat block describes it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Entry {
    /// 0: empty.
    pub number: u64,
    pub len: u32,
    pub crc: u32,
}

/// A node's beat block.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Beat {
    pub node: String,
    pub writer: u64,
    pub counter: u64,
    pub entries: [Entry; ENTRIES],
}

impl Beat {
    pub fn encode(&self) -> Vec<u8> {
        let mut o = b"SHBT".to_vec();
        o.extend_from_slice(&VERSION.to_be_bytes());
        put_name(&mut o, &self.node);
        o.extend_from_slice(&self.writer.to_be_bytes());
        o.extend_from_slice(&self.counter.to_be_bytes());
        for e in &self.entries {
            o.extend_from_slice(&e.number.to_be_bytes());
            o.extend_from_slice(&e.len.to_be_bytes());
            o.extend_from_slice(&e.crc.to_be_bytes());
        }
        seal(o)
    }

    pub fn decode(b: &[u8]) -> Result<Beat, BadBlock> {
        let mut c = unseal(b, b"SHBT")?;
        let node = c.name()?;
        let writer = c.u64()?;
        let counter = c.u64()?;
        let mut entries = [Entry::default(); ENTRIES];
        for e in entries.iter_mut() {
            *e = Entry {
                number: c.u64()?,
                len: c.u32()?,
                crc: c.u32()?,
            };
            if e.len as usize > ENTRY_SIZE {
                return Err(BadBlock::Damaged("entry length"));
            }
        }
        Ok(Beat {
            node,
            writer,
            counter,
            entries,
        })
    }
}

/// One service in a lock block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    pub service: String,
    pub epoch: u32,
    pub held: bool,
}

/// A node's lock block: its claims on services' volumes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Locks {
    pub node: String,
    pub claims: Vec<Claim>,
}

impl Locks {
    pub fn encode(&self) -> Result<Vec<u8>, String> {
        let mut o = b"SHLK".to_vec();
        o.extend_from_slice(&VERSION.to_be_bytes());
        put_name(&mut o, &self.node);
        o.extend_from_slice(&(self.claims.len() as u16).to_be_bytes());
        for c in &self.claims {
            put_name(&mut o, &c.service);
            o.extend_from_slice(&c.epoch.to_be_bytes());
            o.push(c.held as u8);
        }
        if o.len() > BLOCK - 4 || self.claims.len() > MAX_LOCKS {
            return Err(format!(
                "too many volume locks for one lock block ({}; at most {MAX_LOCKS})",
                self.claims.len()
            ));
        }
        Ok(seal(o))
    }

    pub fn decode(b: &[u8]) -> Result<Locks, BadBlock> {
        let mut c = unseal(b, b"SHLK")?;
        let node = c.name()?;
        let n = c.u16()? as usize;
        if n > MAX_LOCKS {
            return Err(BadBlock::Damaged("lock count"));
        }
        let mut claims = Vec::with_capacity(n);
        for _ in 0..n {
            let service = c.name()?;
            let epoch = c.u32()?;
            let held = match c.u8()? {
                0 => false,
                1 => true,
                _ => return Err(BadBlock::Damaged("lock flag")),
            };
            claims.push(Claim {
                service,
                epoch,
                held,
            });
        }
        Ok(Locks { node, claims })
    }

    pub fn claim(&self, service: &str) -> Option<&Claim> {
        self.claims.iter().find(|c| c.service == service)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_round_trip_and_damage_is_seen() {
        let beat = Beat {
            node: "alpha".into(),
            writer: 7,
            counter: 99,
            entries: [
                Entry {
                    number: 5,
                    len: 120,
                    crc: 3,
                },
                Entry::default(),
                Entry::default(),
                Entry {
                    number: 4,
                    len: 60,
                    crc: 9,
                },
            ],
        };
        let b = beat.encode();
        assert_eq!(b.len(), BLOCK);
        assert_eq!(Beat::decode(&b), Ok(beat));
        let mut torn = b.clone();
        torn[30] ^= 1;
        assert_eq!(Beat::decode(&torn), Err(BadBlock::Damaged("checksum")));
        assert_eq!(Beat::decode(&vec![0; BLOCK]), Err(BadBlock::Empty));
        let locks = Locks {
            node: "beta".into(),
            claims: vec![Claim {
                service: "db".into(),
                epoch: 3,
                held: true,
            }],
        };
        let b = locks.encode().unwrap();
        assert_eq!(Locks::decode(&b), Ok(locks));
        // A lock block is not a beat block.
        assert!(Beat::decode(&b).is_err());
        assert_eq!(decode_header(&header_block(42)), Ok(42));
        let many = Locks {
            node: "beta".into(),
            claims: (0..200)
                .map(|i| Claim {
                    service: format!("service-number-{i:03}-with-a-long-name"),
                    epoch: 1,
                    held: true,
                })
                .collect(),
        };
        assert!(many.encode().is_err());
    }
}
