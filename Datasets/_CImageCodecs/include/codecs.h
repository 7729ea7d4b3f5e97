// _CImageCodecs: JPEG (libjpeg-turbo) and PNG (libpng 1.6) decoding and encoding from and to memory.
//
// libjpeg and libpng report errors by longjmp and, left to their defaults, print to stderr or call
// exit(). Swift cannot unwind through a longjmp, so every entry point below installs its own
// setjmp/longjmp error manager and turns every error -- and every libjpeg warning and libpng benign
// error, which the libraries would otherwise let pass -- into a return code plus a message.
// No input, however malformed, aborts the process.
//
// Memory: pixel buffers and encoded buffers returned here are allocated with malloc; release them
// with kd_codec_free.

#ifndef KD_IMAGE_CODECS_H
#define KD_IMAGE_CODECS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Return codes of every kd_* function.
enum kd_codec_status {
    KD_CODEC_OK = 0,
    /// The data is not a valid image of the requested type, or is truncated (see the message).
    KD_CODEC_CORRUPT = 1,
    /// The header announces more pixels than the caller's limit (nothing was allocated).
    KD_CODEC_TOO_LARGE = 2,
    /// decode of palette indices was asked of a PNG that has no palette.
    KD_CODEC_NOT_PALETTE = 3,
    /// A palette index is not smaller than the number of palette entries.
    KD_CODEC_BAD_PALETTE_INDEX = 4,
    /// malloc failed.
    KD_CODEC_NO_MEMORY = 5,
    /// The caller passed an unsupported layout (channel count, bit depth, quality).
    KD_CODEC_BAD_ARGUMENT = 6,
};

/// A decoded image: interleaved rows, `channels` bytes per pixel, no padding.
typedef struct kd_decoded_image {
    /// Set from the header as soon as it is read (also when the status is KD_CODEC_TOO_LARGE).
    int32_t width;
    int32_t height;
    /// 1 (gray), 3 (RGB) or 4 (RGBA) for colour decoding; 1 for palette indices.
    int32_t channels;
    /// For palette PNGs: the number of palette entries; 0 otherwise.
    int32_t palette_count;
    /// For palette PNGs: palette_count RGB triples.
    uint8_t palette[256 * 3];
    /// width * height * channels bytes, malloc'd (NULL on failure).
    uint8_t *pixels;
    /// A human-readable reason when the status is not KD_CODEC_OK.
    char message[256];
} kd_decoded_image;

/// Decodes a JPEG (baseline or progressive; gray, YCbCr/RGB, CMYK/YCCK converted to RGB) to 1 or 3 channels.
/// Headers announcing more than `max_pixels` pixels are refused before any pixel memory is allocated.
int kd_jpeg_decode(const uint8_t *data, size_t size, int64_t max_pixels, kd_decoded_image *out);

/// Decodes a PNG to 8-bit gray (1), RGB (3) or RGBA (4) channels: palettes expanded (tRNS -> alpha),
/// 16-bit samples scaled to 8-bit with rounding, gray+alpha expanded to RGBA, interlacing undone.
/// With `palette_indices` non-zero, a palette PNG is decoded to its raw indices (1 channel, one index
/// per byte, sub-byte depths unpacked) and a non-palette PNG is refused with KD_CODEC_NOT_PALETTE.
int kd_png_decode(const uint8_t *data, size_t size, int64_t max_pixels, int palette_indices,
                  kd_decoded_image *out);

/// Encodes rows of samples as a PNG.
/// color_type: 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA (the PNG codes); bit_depth 8 or 16
/// (16-bit samples big-endian, as stored in PNG); palette/palette_count/trns/trns_count only for
/// color_type 3. `interlace` non-zero writes Adam7.
int kd_png_encode(const uint8_t *samples, int32_t width, int32_t height, int color_type, int bit_depth,
                  int interlace, const uint8_t *palette, int palette_count, const uint8_t *trns,
                  int trns_count, uint8_t **out, size_t *out_size, char message[256]);

/// Encodes 1-channel (gray) or 3-channel (RGB) 8-bit pixels as a baseline JPEG with quality 1...100.
/// 4 channels are CMYK in Adobe's inverted convention (255 = no ink), written with an Adobe marker
/// (used by tests of the CMYK decoding path; ILSVRC holds a few such photos).
int kd_jpeg_encode(const uint8_t *pixels, int32_t width, int32_t height, int channels, int quality,
                   uint8_t **out, size_t *out_size, char message[256]);

/// kd_jpeg_encode with a scan script: `progression` 0 is baseline (one scan), 1 libjpeg's default
/// progressive script (about 10 scans), 2 the longest valid script (127 scans per component: each
/// AC coefficient alone, first at 1-bit precision, then refined), used to test the decoder's scan cap.
int kd_jpeg_encode_progression(const uint8_t *pixels, int32_t width, int32_t height, int channels, int quality,
                               int progression, uint8_t **out, size_t *out_size, char message[256]);

/// Releases memory returned by the functions above.
void kd_codec_free(void *pointer);

/// A gzip decompressor that checks every member's CRC-32 and length (zlib, loaded at run time).
/// Concatenated members are read one after another; zero bytes after a member are padding.
typedef struct kd_gunzip kd_gunzip;

/// A new decompressor, or NULL with a message when zlib cannot be loaded.
kd_gunzip *kd_gunzip_new(char message[256]);
void kd_gunzip_free(kd_gunzip *g);

/// Inflates from `input` into `output`; sets how much of each was used. `final_input` says that no
/// input follows this call's, so a stream that ends inside a member is reported as truncated.
/// Returns KD_CODEC_CORRUPT with a message for damaged data or a wrong CRC or length.
int kd_gunzip_run(kd_gunzip *g, const uint8_t *input, size_t input_size, size_t *consumed,
                  uint8_t *output, size_t output_size, size_t *produced, int final_input, char message[256]);

/// 1 when the last member read was complete (its trailer checked) and no other has started.
int kd_gunzip_finished(const kd_gunzip *g);

#ifdef __cplusplus
}
#endif

#endif
