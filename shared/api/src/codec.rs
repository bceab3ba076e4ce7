//! The codec of every big-market service: prost, except that a request that is not valid
//! protobuf is answered `INVALID_ARGUMENT` / `0002` (tonic's prost codec says `INTERNAL`,
//! which would blame the server for the caller's bytes; ARCHITECTURE.md §8.1).

use std::marker::PhantomData;

use prost::Message;
use tonic::{
    Status,
    codec::{BufferSettings, Codec, DecodeBuf, Decoder},
};
use tonic_prost::{ProstDecoder, ProstEncoder};

/// [`tonic_prost::ProstCodec`] with bad input answered as bad input.
#[derive(Debug, Clone)]
pub struct BmCodec<T, U>(PhantomData<(T, U)>);

impl<T, U> Default for BmCodec<T, U> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<T, U> Codec for BmCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = BmDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::default()
    }

    fn decoder(&mut self) -> Self::Decoder {
        BmDecoder(ProstDecoder::default())
    }
}

/// Decodes with prost; an undecodable message is `INVALID_ARGUMENT` / `0002`.
#[derive(Debug, Clone, Default)]
pub struct BmDecoder<U>(ProstDecoder<U>);

impl<U: Message + Default> Decoder for BmDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        self.0.decode(buf).map_err(|status| {
            bm_status::invalid_argument("message", format!("not a valid protobuf message ({})", status.message()))
        })
    }

    fn buffer_settings(&self) -> BufferSettings {
        self.0.buffer_settings()
    }
}
