//! The userspace side of a group's fan-out list (`mcastlab_common::slots`): the loops of the
//! protocol over the array memory-mapped into this process, around the steps the eBPF side
//! (mcastlab-ebpf/src/fanout.rs) uses too, so userspace changes and IGMP joins on any CPU can
//! meet in one group safely.

use std::{
    collections::HashMap,
    os::fd::{AsFd as _, AsRawFd as _},
    ptr::NonNull,
    sync::atomic::{AtomicU64, Ordering},
};

use aya::maps::MapData;
use mcastlab_common::slots::{
    self, Dedup, FREE, Found, GROUP_ARRAY_LEN, GROUP_SLOTS, GroupHeader, HEADER_SLOT, Member,
    SOURCE_FILTERS_INDEX, bytes_index, heard_index, packets_index,
};

/// The words of one group's array.
pub struct Slots<'a> {
    words: &'a [AtomicU64],
}

/// Why a member was not added.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddError {
    /// The subscriber already holds a slot, with this member.
    Present(Member),
    /// Every slot of the group's capacity is taken.
    Full {
        /// The group's capacity.
        capacity: u32,
    },
    /// Other writers kept raising the high-water mark below the claimed slot for
    /// [`slots::RAISE_ATTEMPTS`] attempts; the slot was given back. Trying again can succeed.
    Contended,
}

impl<'a> Slots<'a> {
    /// The slots in `words` (a whole group array: [`GROUP_ARRAY_LEN`] words, the slots and
    /// their last-heard and delivery words, which a claim starts at 0).
    pub fn new(words: &'a [AtomicU64]) -> Self {
        assert_eq!(words.len(), GROUP_ARRAY_LEN as usize, "a whole group array");
        Self { words }
    }

    /// Writes the header of a new, empty group of `capacity` (before the group map holds it).
    pub fn start(&self, capacity: u32) {
        self.words[HEADER_SLOT as usize]
            .store(GroupHeader::empty(capacity).word(), Ordering::SeqCst);
    }

    /// The group's header.
    pub fn header(&self) -> GroupHeader {
        slots::header(self.words).expect("a whole group array has a header slot")
    }

    /// Every member with its slot, in slot order.
    pub fn members(&self) -> Vec<(u32, Member)> {
        self.member_slots()
            .filter_map(|slot| {
                Member::from_word(self.word(slot).load(Ordering::SeqCst)).map(|m| (slot, m))
            })
            .collect()
    }

    /// The slot holding `address` and its word.
    pub fn find(&self, address: u32) -> Option<Found> {
        self.member_slots()
            .find_map(|slot| slots::find_step(self.words, slot, address))
    }

    /// The slot holding `member`'s subscriber ([`Member::same_subscriber`]) and its word.
    pub fn find_subscriber(&self, member: Member) -> Option<Found> {
        self.member_slots()
            .find_map(|slot| slots::find_subscriber_step(self.words, slot, member))
    }

    /// Adds `member`: claims the lowest free slot, raises the high-water mark over it and keeps
    /// the lowest slot if another writer added the same subscriber at the same time.
    pub fn add(&self, member: Member) -> Result<u32, AddError> {
        if let Some(found) = self.find_subscriber(member) {
            return Err(present_error(found.word));
        }
        let header = self.header();
        let claimed =
            (1..=last_slot(header)).find(|&slot| slots::claim_step(self.words, slot, member));
        let Some(slot) = claimed else {
            return Err(AddError::Full {
                capacity: header.capacity,
            });
        };
        let own = Found {
            slot,
            word: member.word(),
        };
        if !slots::raise_high_water(self.words, slot) {
            slots::replace(self.words, own, FREE);
            return Err(AddError::Contended);
        }
        let lower =
            self.member_slots()
                .find_map(|other| match slots::dedup_step(self.words, own, other) {
                    Dedup::GaveBack(theirs) => Some(theirs),
                    Dedup::Unrelated | Dedup::FreedTheirs => None,
                });
        match lower {
            None => Ok(slot),
            Some(theirs) => Err(present_error(theirs.word)),
        }
    }

    /// Adds `members` in order, as [`Slots::add`] would one by one, with two scans of the list
    /// instead of two per member: the addresses present are read once, free slots are claimed
    /// upwards from the lowest, the high-water mark is raised once, and one last scan settles
    /// races with other writers (the lower slot of a subscriber stays). Stops at the first member
    /// that is present (also earlier in `members`) or does not fit: the error comes with its
    /// index, and the members before it are added. If the high-water mark cannot be raised
    /// ([`AddError::Contended`], index 0), every claimed slot is given back: none is added.
    pub fn add_all(&self, members: &[Member]) -> Result<(), (usize, AddError)> {
        let header = self.header();
        let last_slot = last_slot(header);
        let mut present: HashMap<u64, u64> = self
            .members()
            .into_iter()
            .map(|(_, member)| (member.subscriber_key(), member.word()))
            .collect();
        let mut claimed: HashMap<u64, Found> = HashMap::new();
        let mut next = 1;
        let mut failure = None;
        for (index, member) in members.iter().enumerate() {
            if let Some(&word) = present.get(&member.subscriber_key()) {
                failure = Some((index, present_error(word)));
                break;
            }
            let slot =
                (next..=last_slot).find(|&slot| slots::claim_step(self.words, slot, *member));
            let Some(slot) = slot else {
                failure = Some((
                    index,
                    AddError::Full {
                        capacity: header.capacity,
                    },
                ));
                break;
            };
            next = slot + 1;
            present.insert(member.subscriber_key(), member.word());
            claimed.insert(
                member.subscriber_key(),
                Found {
                    slot,
                    word: member.word(),
                },
            );
        }
        if let Some(highest) = claimed.values().map(|own| own.slot).max()
            && !slots::raise_high_water(self.words, highest)
        {
            for own in claimed.values() {
                slots::replace(self.words, *own, FREE);
            }
            return Err((0, AddError::Contended));
        }
        // Another writer may have added one of these addresses meanwhile.
        for slot in self.member_slots() {
            let word = self.word(slot).load(Ordering::SeqCst);
            let Some(member) = Member::from_word(word) else {
                continue;
            };
            if let Some(&own) = claimed.get(&member.subscriber_key()) {
                slots::settle(self.words, own, Found { slot, word });
            }
        }
        failure.map_or(Ok(()), Err)
    }

    /// Removes the member at `address`; returns it, or `None` if there was none.
    pub fn remove(&self, address: u32) -> Option<Member> {
        let found = self.find(address)?;
        slots::replace(self.words, found, FREE)
            .then(|| Member::from_word(found.word))
            .flatten()
    }

    /// Frees `slot` if it still holds `member`; returns whether it did.
    pub fn remove_at(&self, slot: u32, member: Member) -> bool {
        slots::replace(
            self.words,
            Found {
                slot,
                word: member.word(),
            },
            FREE,
        )
    }

    /// Removes every local member behind host-side veth `ifindex` (its pod is gone); returns
    /// them. A member that changed meanwhile (a new join) is left alone.
    pub fn remove_behind(&self, ifindex: u32) -> Vec<Member> {
        self.members()
            .into_iter()
            .filter(|(_, member)| !member.is_remote() && member.target == ifindex)
            .filter(|&(slot, member)| {
                let found = Found {
                    slot,
                    word: member.word(),
                };
                slots::replace(self.words, found, FREE)
            })
            .map(|(_, member)| member)
            .collect()
    }

    fn member_slots(&self) -> std::ops::Range<u32> {
        1..self.header().high_water.min(GROUP_SLOTS)
    }

    fn word(&self, slot: u32) -> &AtomicU64 {
        &self.words[slot as usize]
    }
}

/// The last slot a group of `header` may claim.
fn last_slot(header: GroupHeader) -> u32 {
    header.capacity.min(GROUP_SLOTS - 1)
}

fn present_error(word: u64) -> AddError {
    AddError::Present(Member::from_word(word).expect("a found slot holds a member"))
}

/// What was delivered to the member of a slot since it claimed the slot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delivered {
    /// Copies that left for the member.
    pub packets: u64,
    /// Their bytes: each copy's length as replicated (the Ethernet frame, before any tunnel
    /// header).
    pub bytes: u64,
}

/// A group's array mapped into this process (`BPF_F_MMAPABLE`), unmapped on drop.
pub struct MappedGroup {
    address: NonNull<AtomicU64>,
    length: usize,
}

impl MappedGroup {
    /// Maps the array of `map` (a group's inner map) read-write.
    pub fn map(map: &MapData) -> std::io::Result<Self> {
        let length = mapping_length();
        // SAFETY: a fresh shared mapping of the map's fd; the kernel checks the length against
        // the array's pages and the map's flags.
        let address = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                length,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                map.fd().as_fd().as_raw_fd(),
                0,
            )
        };
        if address == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        let address = NonNull::new(address.cast()).ok_or_else(std::io::Error::last_os_error)?;
        Ok(Self { address, length })
    }

    /// The group's slots.
    pub fn slots(&self) -> Slots<'_> {
        Slots::new(self.words())
    }

    /// What was delivered to the member in `slot` since it claimed the slot. The two words are
    /// read one after the other, so a copy counted meanwhile may show in one of them only.
    pub fn delivered(&self, slot: u32) -> Delivered {
        let words = self.words();
        Delivered {
            packets: words[packets_index(slot) as usize].load(Ordering::SeqCst),
            bytes: words[bytes_index(slot) as usize].load(Ordering::SeqCst),
        }
    }

    /// When the member in `slot` was last heard: `CLOCK_MONOTONIC` nanoseconds, or
    /// [`mcastlab_common::slots::NEVER_HEARD`].
    pub fn last_heard(&self, slot: u32) -> u64 {
        self.words()[heard_index(slot) as usize].load(Ordering::SeqCst)
    }

    /// Writes `heard_ns` as when the member in `slot` was last heard if the word still is
    /// `old`; returns whether it did. Userspace stamps the remote members it learns this way;
    /// a word another writer changed since it was read (a new member's) is left alone.
    pub fn set_last_heard(&self, slot: u32, old: u64, heard_ns: u64) -> bool {
        self.words()[heard_index(slot) as usize]
            .compare_exchange(old, heard_ns, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    /// Marks that a member of the group has a source filter, so replication looks its
    /// members' filters up ([`mcastlab_common::slots::SOURCE_FILTERS_INDEX`]); never cleared.
    pub fn mark_source_filters(&self) {
        self.words()[SOURCE_FILTERS_INDEX as usize].store(1, Ordering::SeqCst);
    }

    /// Every word of the array.
    fn words(&self) -> &[AtomicU64] {
        // SAFETY: the mapping holds GROUP_ARRAY_LEN aligned 8-byte words (page-aligned start)
        // and lives as long as `self`; other writers use atomics too.
        unsafe { std::slice::from_raw_parts(self.address.as_ptr(), GROUP_ARRAY_LEN as usize) }
    }
}

impl Drop for MappedGroup {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `map`, unmapped once.
        unsafe { libc::munmap(self.address.as_ptr().cast(), self.length) };
    }
}

/// The array's data rounded up to pages, as the kernel maps it.
fn mapping_length() -> usize {
    // SAFETY: sysconf has no preconditions.
    let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
    (GROUP_ARRAY_LEN as usize * size_of::<u64>()).div_ceil(page) * page
}

#[cfg(test)]
mod tests {
    use std::{collections::HashSet, sync::Barrier};

    use super::*;

    fn empty_group(capacity: u32) -> Vec<AtomicU64> {
        let words: Vec<AtomicU64> = (0..GROUP_ARRAY_LEN).map(|_| AtomicU64::new(FREE)).collect();
        Slots::new(&words).start(capacity);
        words
    }

    #[test]
    fn members_fill_the_lowest_free_slots_and_reuse_freed_ones() {
        let words = empty_group(8);
        let slots = Slots::new(&words);
        assert_eq!(slots.add(Member::remote(10)), Ok(1));
        assert_eq!(slots.add(Member::local(11, 4)), Ok(2));
        assert_eq!(slots.add(Member::remote(12)), Ok(3));
        assert_eq!(slots.header().high_water, 4);
        assert_eq!(slots.remove(11), Some(Member::local(11, 4)));
        assert_eq!(slots.remove(11), None);
        // The freed slot is reused; the high-water mark stays.
        assert_eq!(slots.add(Member::remote(13)), Ok(2));
        assert_eq!(slots.header().high_water, 4);
        let addresses: Vec<u32> = slots.members().iter().map(|(_, m)| m.address).collect();
        assert_eq!(addresses, [10, 13, 12]);
    }

    #[test]
    fn a_member_added_to_a_slot_counts_from_zero_whoever_held_it() {
        let words = empty_group(4);
        let slots = Slots::new(&words);
        let count = |slot: u32, packets: u64, bytes: u64| {
            words[packets_index(slot) as usize].store(packets, Ordering::SeqCst);
            words[bytes_index(slot) as usize].store(bytes, Ordering::SeqCst);
        };
        let counted = |slot: u32| {
            (
                words[packets_index(slot) as usize].load(Ordering::SeqCst),
                words[bytes_index(slot) as usize].load(Ordering::SeqCst),
            )
        };
        // Remote 1 got 3 copies in slot 1 and went; remote 2 holds slot 2 with 4 copies.
        assert_eq!(slots.add(Member::remote(1)), Ok(1));
        assert_eq!(slots.add(Member::remote(2)), Ok(2));
        count(1, 3, 300);
        count(2, 4, 400);
        slots.remove(1);
        // One by one and in a batch, a new member of a slot starts at 0; others keep theirs.
        assert_eq!(slots.add(Member::remote(3)), Ok(1));
        assert_eq!((counted(1), counted(2)), ((0, 0), (4, 400)));
        count(1, 5, 500);
        slots.remove(3);
        assert_eq!(slots.add_all(&[Member::remote(4)]), Ok(()));
        assert_eq!((counted(1), counted(2)), ((0, 0), (4, 400)));
    }

    #[test]
    fn an_address_holds_one_slot_and_capacity_is_enforced() {
        let words = empty_group(2);
        let slots = Slots::new(&words);
        slots.add(Member::remote(1)).expect("first");
        assert_eq!(
            slots.add(Member::remote(1)),
            Err(AddError::Present(Member::remote(1)))
        );
        slots.add(Member::remote(2)).expect("second");
        assert_eq!(
            slots.add(Member::remote(3)),
            Err(AddError::Full { capacity: 2 })
        );
    }

    #[test]
    fn a_batch_fills_free_slots_and_stops_at_what_is_present_or_does_not_fit() {
        let words = empty_group(4);
        let slots = Slots::new(&words);
        slots.add(Member::remote(1)).expect("first");
        slots.add(Member::remote(2)).expect("second");
        slots.remove(1);
        // Slot 1 is free again; 3 and 4 fill it and slot 3; 2 is present.
        let batch = [Member::remote(3), Member::remote(4), Member::remote(2)];
        assert_eq!(
            slots.add_all(&batch),
            Err((2, AddError::Present(Member::remote(2))))
        );
        let listed: Vec<(u32, u32)> = slots
            .members()
            .iter()
            .map(|(slot, m)| (*slot, m.address))
            .collect();
        assert_eq!(listed, [(1, 3), (2, 2), (3, 4)]);
        assert_eq!(slots.header().high_water, 4);
        // A repeat inside one batch is present too; past the capacity is full.
        assert_eq!(
            slots.add_all(&[Member::remote(5), Member::remote(5)]),
            Err((1, AddError::Present(Member::remote(5))))
        );
        assert_eq!(
            slots.add_all(&[Member::remote(6)]),
            Err((0, AddError::Full { capacity: 4 }))
        );
    }

    #[test]
    fn concurrent_writers_leave_each_address_in_exactly_one_slot() {
        const THREADS: u32 = 4;
        const ADDRESSES: u32 = 200;
        let words = empty_group(1024);
        let barrier = Barrier::new(THREADS as usize);
        std::thread::scope(|scope| {
            for _ in 0..THREADS {
                scope.spawn(|| {
                    let slots = Slots::new(&words);
                    barrier.wait();
                    // Every thread adds every address: all but one add of each must lose.
                    for address in 1..=ADDRESSES {
                        let _ = slots.add(Member::remote(address));
                    }
                });
            }
        });
        let slots = Slots::new(&words);
        let members = slots.members();
        let distinct: HashSet<u32> = members.iter().map(|(_, m)| m.address).collect();
        assert_eq!(distinct.len(), ADDRESSES as usize);
        assert_eq!(members.len(), ADDRESSES as usize, "duplicates: {members:?}");
        let highest = members.iter().map(|(slot, _)| *slot).max().unwrap_or(0);
        assert!(slots.header().high_water > highest);
    }
}
