//! Reading QR codes out of pictures (a photo, a screenshot, a camera still), for the
//! consumer's scanner, the till's camera and the gate: decoded off the async workers, a few at
//! a time.

use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::error::ApiError;

/// How a picture was taken.
#[derive(Debug, Default, Deserialize)]
pub struct PictureQuery {
    /// `true` for a still from a live camera (sent about once a second until a code is
    /// found): such stills share one decoder of their own, so cameras never crowd out photos.
    #[serde(default)]
    pub live: bool,
}

/// The text of the first QR code in a PNG or JPEG picture. Decoding takes milliseconds to
/// seconds of CPU: not on the async workers, and no more at once than there are cores (one of
/// them for live camera stills); beyond that, `scan_busy` asks to try again.
pub(crate) async fn read_qr_picture(body: Vec<u8>, live: bool) -> Result<String, ApiError> {
    static DECODERS: std::sync::LazyLock<tokio::sync::Semaphore> = std::sync::LazyLock::new(|| {
        tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
    });
    static LIVE_DECODERS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);
    let pool = if live { &LIVE_DECODERS } else { &*DECODERS };
    let _permit = pool.try_acquire().map_err(|_| {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "scan_busy",
            "many pictures are being read right now: try again in a moment",
        )
    })?;
    let decoded = tokio::task::spawn_blocking(move || cashless_emvqr::images::decode_image(&body))
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the picture could not be read",
            )
        })?;
    let payloads = decoded.map_err(|error| {
        use cashless_emvqr::images::ImageError;
        let message = match &error {
            // The decoder's own words about a broken file help no one.
            ImageError::Image(_) | ImageError::Io(_) => {
                "this picture could not be read: send a PNG or JPEG photo or screenshot".to_owned()
            }
            _ => error.to_string(),
        };
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, error.code(), message)
    })?;
    payloads.into_iter().next().ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "no_qr_code",
            "no QR code found in the picture",
        )
    })
}

/// What a QR code in a picture says.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct PictureText {
    pub text: String,
}
