//! The records of an IGMPv3 or MLDv2 report, viewed without copying: one implementation for both
//! families, which differ only in the record header ([`crate::wire::igmp::V3RecordHeader`], 8
//! bytes; [`crate::wire::mld::V2RecordHeader`], 20) and in the width of a source address (4 or
//! 16 bytes). RFC 3376 section 4.2 and RFC 3810 section 5.2 lay them out alike: after the
//! 8-byte message header, `Number of Records` records, each a header, its sources and its
//! auxiliary data.

use core::marker::PhantomData;

use crate::{
    Reason,
    igmp::RecordEffect,
    wire::igmp::{EmitError, put},
};

/// Length of the message header before the records, IGMPv3's and MLDv2's alike.
const MESSAGE_HEADER_LEN: usize = 8;
/// Where the message header holds the number of records, IGMPv3's and MLDv2's alike.
const NUM_RECORDS: core::ops::Range<usize> = 6..8;
/// The unit of a record's auxiliary data length: 32-bit words.
const WORD: usize = 4;

/// What a family's record header tells the shared views.
pub trait RecordHeader: Copy {
    /// Length of the record header.
    const LEN: usize;
    /// Length of one source address.
    const SOURCE_LEN: usize;
    /// A group or source address, as its wire octets.
    type Address: AsRef<[u8]>;

    /// A record header of `record_type` for `group` announcing `num_sources` sources and
    /// `aux_words` 32-bit words of auxiliary data.
    fn new(record_type: u8, aux_words: u8, num_sources: u16, group: Self::Address) -> Self;
    /// The header's wire bytes.
    fn bytes(&self) -> &[u8];

    /// The header at the start of `bytes`, if they hold one.
    fn read(bytes: &[u8]) -> Option<Self>;
    /// The header's own check of the record starting at `offset` of a message of `end` bytes:
    /// the offset of the next record.
    fn check(&self, offset: u32, end: u32) -> Result<u32, Reason>;
    /// Record Type (RFC 3376 section 4.2.12, RFC 3810 section 5.2.5).
    fn record_type(&self) -> u8;
    /// Aux Data Len, in 32-bit words.
    fn aux_words(&self) -> u8;
    /// Number of Sources.
    fn num_sources(&self) -> u16;
    /// The multicast address the record is about.
    fn group(&self) -> Self::Address;
    /// What the record means for an any-source member.
    fn effect(&self) -> RecordEffect;
    /// The address in the first [`Self::SOURCE_LEN`] bytes of `bytes`.
    fn address(bytes: &[u8]) -> Self::Address;
}

/// Implements [`RecordHeader`] for a family's record header type, whose inherent methods of
/// the same names it forwards to: `$address` is the address type, `$source_len` its length,
/// `$read_address` turns the first `$source_len` bytes of a slice into one.
macro_rules! impl_record_header {
    ($header:ty, $address:ty, $source_len:expr, $read_address:expr) => {
        impl $crate::wire::report::RecordHeader for $header {
            const LEN: usize = <$header>::LEN;
            const SOURCE_LEN: usize = $source_len;
            type Address = $address;

            fn new(record_type: u8, aux_words: u8, num_sources: u16, group: $address) -> Self {
                <$header>::new(record_type, aux_words, num_sources, group)
            }
            fn bytes(&self) -> &[u8] {
                &self.0
            }
            fn read(bytes: &[u8]) -> Option<Self> {
                bytes.first_chunk::<{ <$header>::LEN }>().copied().map(Self)
            }
            fn check(&self, offset: u32, end: u32) -> Result<u32, $crate::Reason> {
                <$header>::check(self, offset, end)
            }
            fn record_type(&self) -> u8 {
                <$header>::record_type(self)
            }
            fn aux_words(&self) -> u8 {
                <$header>::aux_words(self)
            }
            fn num_sources(&self) -> u16 {
                <$header>::num_sources(self)
            }
            fn group(&self) -> $address {
                <$header>::group(self)
            }
            fn effect(&self) -> $crate::igmp::RecordEffect {
                <$header>::effect(self)
            }
            fn address(bytes: &[u8]) -> $address {
                $read_address(bytes)
            }
        }
    };
}
pub(crate) use impl_record_header;

/// The records of a report, each checked by its header ([`RecordHeader::check`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Report<'a, H> {
    /// The records' bytes, exactly: bytes after the last record are not part of it.
    records: &'a [u8],
    num_records: u16,
    header: PhantomData<H>,
}

impl<'a, H: RecordHeader + 'a> Report<'a, H> {
    /// Checks the `num_records` records of `message` (the whole message, `end` bytes counted
    /// by its checks) in order, as the dataplane does, and views them: `Malformed` when a
    /// record is cut short, or whatever a record's own check refuses.
    pub(crate) fn parse(message: &'a [u8], num_records: u16, end: u32) -> Result<Self, Reason> {
        let mut at = MESSAGE_HEADER_LEN as u32;
        for _ in 0..num_records {
            let header = message
                .get(at as usize..)
                .and_then(H::read)
                .ok_or(Reason::Malformed)?;
            at = header.check(at, end)?;
        }
        Ok(Self {
            records: &message[MESSAGE_HEADER_LEN..at as usize],
            num_records,
            header: PhantomData,
        })
    }

    /// Number of records (RFC 3376 section 4.2.5, RFC 3810 section 5.2.3).
    pub fn num_records(&self) -> u16 {
        self.num_records
    }

    /// The records, in message order.
    pub fn records(&self) -> Records<'a, H> {
        Records {
            bytes: self.records,
            remaining: self.num_records,
            header: PhantomData,
        }
    }

    /// Length of the report: header and records.
    pub fn len(&self) -> usize {
        MESSAGE_HEADER_LEN + self.records.len()
    }

    /// Whether the report has no records (it is still 8 bytes long).
    pub fn is_empty(&self) -> bool {
        self.num_records == 0
    }
}

/// Iterator over the records of a parsed [`Report`].
#[derive(Clone, Debug)]
pub struct Records<'a, H> {
    bytes: &'a [u8],
    remaining: u16,
    header: PhantomData<H>,
}

impl<'a, H: RecordHeader + 'a> Iterator for Records<'a, H> {
    type Item = Record<'a, H>;

    fn next(&mut self) -> Option<Record<'a, H>> {
        if self.remaining == 0 {
            return None;
        }
        let (record, rest) = Record::split(self.bytes)?;
        self.remaining -= 1;
        self.bytes = rest;
        Some(record)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (
            usize::from(self.remaining),
            Some(usize::from(self.remaining)),
        )
    }
}

/// One record of a parsed report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a, H> {
    /// The record header.
    pub(crate) header: H,
    /// The sources' bytes.
    pub(crate) sources: &'a [u8],
    /// The auxiliary data.
    pub(crate) aux_data: &'a [u8],
}

impl<'a, H: RecordHeader + 'a> Record<'a, H> {
    /// The record's header: type, group, counts.
    pub fn header(&self) -> H {
        self.header
    }

    /// Record Type: see [`crate::igmp::record`].
    pub fn record_type(&self) -> u8 {
        self.header.record_type()
    }

    /// The multicast address the record is about, as its wire octets.
    pub fn group(&self) -> H::Address {
        self.header.group()
    }

    /// Source Addresses, as their wire octets.
    pub fn sources(&self) -> impl ExactSizeIterator<Item = H::Address> + 'a {
        self.sources.chunks_exact(H::SOURCE_LEN).map(H::address)
    }

    /// Auxiliary Data, which neither IGMPv3 nor MLDv2 defines any of.
    pub fn aux_data(&self) -> &'a [u8] {
        self.aux_data
    }

    /// What the record means for an any-source member ([`crate::igmp::record_effect`]).
    pub fn effect(&self) -> RecordEffect {
        self.header.effect()
    }

    /// Splits the record at the start of `bytes` (already checked) from the rest.
    fn split(bytes: &'a [u8]) -> Option<(Self, &'a [u8])> {
        let header = H::read(bytes)?;
        let sources_len = usize::from(header.num_sources()) * H::SOURCE_LEN;
        let aux_len = usize::from(header.aux_words()) * WORD;
        let body = bytes.get(H::LEN..)?;
        let sources = body.get(..sources_len)?;
        let aux_data = body.get(sources_len..sources_len + aux_len)?;
        let rest = body.get(sources_len + aux_len..)?;
        Some((
            Self {
                header,
                sources,
                aux_data,
            },
            rest,
        ))
    }
}

/// Builds a report record by record in a caller's buffer; the family's writer
/// ([`crate::wire::igmp::V3ReportWriter`], [`crate::wire::mld::V2ReportWriter`]) starts it with
/// its message header and ends it with its checksum.
#[derive(Debug)]
pub(crate) struct ReportWriter<'a, H> {
    buf: &'a mut [u8],
    len: usize,
    num_records: u16,
    header: PhantomData<H>,
}

impl<'a, H: RecordHeader> ReportWriter<'a, H> {
    /// Starts a report at the start of `buf` by writing `message_header`.
    pub(crate) fn new(
        buf: &'a mut [u8],
        message_header: &[u8; MESSAGE_HEADER_LEN],
    ) -> Result<Self, EmitError> {
        let len = put(buf, 0, message_header)?;
        Ok(Self {
            buf,
            len,
            num_records: 0,
            header: PhantomData,
        })
    }

    /// Appends a record of `record_type` for `group` with `sources` and `aux_data` (whole
    /// 32-bit words).
    pub(crate) fn push_record(
        &mut self,
        record_type: u8,
        group: H::Address,
        sources: &[H::Address],
        aux_data: &[u8],
    ) -> Result<(), EmitError> {
        let num_sources = u16::try_from(sources.len()).map_err(|_| EmitError::FieldOverflow)?;
        let mut at = self.push_header(record_type, group, num_sources, aux_data)?;
        for source in sources {
            at = put(self.buf, at, source.as_ref())?;
        }
        self.finish_record(at, aux_data)
    }

    /// Appends a copy of a parsed record.
    pub(crate) fn push_parsed(&mut self, record: &Record<'_, H>) -> Result<(), EmitError> {
        let header = record.header;
        let at = self.push_header(
            header.record_type(),
            header.group(),
            header.num_sources(),
            record.aux_data,
        )?;
        let at = put(self.buf, at, record.sources)?;
        self.finish_record(at, record.aux_data)
    }

    /// Writes a record header with the Aux Data Len of `aux_data`; returns where the sources
    /// go.
    fn push_header(
        &mut self,
        record_type: u8,
        group: H::Address,
        num_sources: u16,
        aux_data: &[u8],
    ) -> Result<usize, EmitError> {
        if !aux_data.len().is_multiple_of(WORD) {
            return Err(EmitError::FieldOverflow);
        }
        let aux_words =
            u8::try_from(aux_data.len() / WORD).map_err(|_| EmitError::FieldOverflow)?;
        put(
            self.buf,
            self.len,
            H::new(record_type, aux_words, num_sources, group).bytes(),
        )
    }

    /// Writes the auxiliary data after the sources ending at `at` and counts the record.
    fn finish_record(&mut self, at: usize, aux_data: &[u8]) -> Result<(), EmitError> {
        self.len = put(self.buf, at, aux_data)?;
        self.num_records = self.num_records.saturating_add(1);
        Ok(())
    }

    /// Records written so far.
    pub(crate) fn num_records(&self) -> u16 {
        self.num_records
    }

    /// Writes `declared` as the number of records (whatever was written) and returns the
    /// message, for its family's checksum.
    pub(crate) fn declare(self, declared: u16) -> &'a mut [u8] {
        self.buf[NUM_RECORDS].copy_from_slice(&declared.to_be_bytes());
        &mut self.buf[..self.len]
    }
}
