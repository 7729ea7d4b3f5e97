// JPEG and PNG codecs with setjmp/longjmp error managers: see include/codecs.h for the contract.
//
// Rules kept throughout this file:
// - every library call that can fail runs after a setjmp whose handler releases everything allocated
//   so far (pointers that change after setjmp are `volatile` so the handler sees their last value);
// - sizes announced by headers are checked against the caller's pixel limit before any pixel buffer
//   is allocated, and `width * height * channels` is computed in 64-bit after that check;
// - libjpeg warnings (premature end of data, corrupt data skipped) and libpng benign errors
//   (extra compressed data, bad palette indices) are errors: a dataset image that only decodes by
//   the library guessing is reported, not silently filled in.

#include "codecs.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

void kd_codec_free(void *pointer) { free(pointer); }

static void kd_set_message(char message[256], const char *text) {
    snprintf(message, 256, "%s", text);
}

// MARK: - JPEG error manager

typedef struct kd_jpeg_error {
    struct jpeg_error_mgr base;
    jmp_buf jump;
    char message[256];
} kd_jpeg_error;

static void kd_jpeg_error_exit(j_common_ptr cinfo) {
    kd_jpeg_error *error = (kd_jpeg_error *)cinfo->err;
    char text[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, text);
    snprintf(error->message, sizeof error->message, "%s", text);
    longjmp(error->jump, 1);
}

/// libjpeg calls this with level -1 for warnings (e.g. "Premature end of JPEG file") and >= 0 for
/// trace messages. Warnings become errors; trace messages are dropped (never printed to stderr).
static void kd_jpeg_emit_message(j_common_ptr cinfo, int level) {
    if (level >= 0) return;
    kd_jpeg_error *error = (kd_jpeg_error *)cinfo->err;
    char text[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, text);
    snprintf(error->message, sizeof error->message, "%s (a libjpeg warning, treated as an error)", text);
    longjmp(error->jump, 1);
}

static void kd_jpeg_install(kd_jpeg_error *error) {
    jpeg_std_error(&error->base);
    error->base.error_exit = kd_jpeg_error_exit;
    error->base.emit_message = kd_jpeg_emit_message;
    error->message[0] = 0;
}

// MARK: - JPEG decoding

/// Most scans a JPEG may have. A progressive JPEG from libjpeg's default script has 10, the most
/// a valid script can have for YCbCr is about 600 (one coefficient per scan, every refinement
/// bit); a hostile file repeats scans to make decoding cost unbounded CPU. 100 leaves headroom
/// over every real encoder's default.
#define KD_JPEG_MAX_SCANS 100

typedef struct kd_jpeg_progress {
    struct jpeg_progress_mgr base;
} kd_jpeg_progress;

/// Called by libjpeg between units of work (also while it absorbs the scans of a progressive
/// file in jpeg_start_decompress): refuses a file once its scan count passes the cap.
static void kd_jpeg_progress_monitor(j_common_ptr cinfo) {
    if (!cinfo->is_decompressor) return;
    j_decompress_ptr d = (j_decompress_ptr)cinfo;
    if (d->input_scan_number > KD_JPEG_MAX_SCANS) {
        kd_jpeg_error *error = (kd_jpeg_error *)cinfo->err;
        snprintf(error->message, sizeof error->message,
                 "more than %d scans (a progressive JPEG has about 10); decoding is refused to bound its cost",
                 KD_JPEG_MAX_SCANS);
        longjmp(error->jump, 1);
    }
}

int kd_jpeg_decode(const uint8_t *data, size_t size, int64_t max_pixels, kd_decoded_image *out) {
    memset(out, 0, sizeof *out);
    if (size < 4 || data[0] != 0xFF || data[1] != 0xD8) {
        kd_set_message(out->message, "not a JPEG file (no start-of-image marker FF D8)");
        return KD_CODEC_CORRUPT;
    }
    struct jpeg_decompress_struct cinfo;
    kd_jpeg_error error;
    uint8_t *volatile pixels = NULL;
    volatile int status = KD_CODEC_CORRUPT;

    cinfo.err = &error.base;
    kd_jpeg_install(&error);
    if (setjmp(error.jump)) {
        jpeg_destroy_decompress(&cinfo);
        free(pixels);
        snprintf(out->message, sizeof out->message, "%s", error.message);
        return status;
    }
    jpeg_create_decompress(&cinfo);
    kd_jpeg_progress progress;
    memset(&progress, 0, sizeof progress);
    progress.base.progress_monitor = kd_jpeg_progress_monitor;
    cinfo.progress = &progress.base;
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);

    int64_t width = cinfo.image_width, height = cinfo.image_height;
    out->width = (int32_t)width;
    out->height = (int32_t)height;
    if (width <= 0 || height <= 0 || width * height > max_pixels) {
        status = width <= 0 || height <= 0 ? KD_CODEC_CORRUPT : KD_CODEC_TOO_LARGE;
        snprintf(error.message, sizeof error.message,
                 "the header announces %lld x %lld pixels, over the limit of %lld pixels",
                 (long long)width, (long long)height, (long long)max_pixels);
        longjmp(error.jump, 1);
    }
    int cmyk = 0;
    switch (cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE: cinfo.out_color_space = JCS_GRAYSCALE; break;
    case JCS_CMYK:
    case JCS_YCCK: cinfo.out_color_space = JCS_CMYK; cmyk = 1; break;
    default: cinfo.out_color_space = JCS_RGB; break;
    }
    jpeg_start_decompress(&cinfo);
    int components = cinfo.output_components;
    if (components != (cinfo.out_color_space == JCS_GRAYSCALE ? 1 : cmyk ? 4 : 3)
        || (int64_t)cinfo.output_width != width || (int64_t)cinfo.output_height != height) {
        snprintf(error.message, sizeof error.message, "unexpected decoder output layout (%d components)",
                 components);
        longjmp(error.jump, 1);
    }
    size_t rowBytes = (size_t)width * (size_t)components;
    pixels = malloc(rowBytes * (size_t)height);
    if (pixels == NULL) {
        status = KD_CODEC_NO_MEMORY;
        kd_set_message(error.message, "out of memory for the pixel buffer");
        longjmp(error.jump, 1);
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = pixels + (size_t)cinfo.output_scanline * rowBytes;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    int adobeInverted = cinfo.saw_Adobe_marker;
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);

    uint8_t *result = pixels;
    if (cmyk) {
        // Adobe writes CMYK inverted (0 = full ink); plain CMYK stores ink amounts. Either way
        // R = (1 − C)(1 − K) on ink amounts, which for inverted values is c·k/255.
        size_t count = (size_t)width * (size_t)height;
        for (size_t i = 0; i < count; i++) {
            unsigned c = pixels[4 * i], m = pixels[4 * i + 1], y = pixels[4 * i + 2], k = pixels[4 * i + 3];
            if (!adobeInverted) { c = 255 - c; m = 255 - m; y = 255 - y; k = 255 - k; }
            result[3 * i] = (uint8_t)((c * k + 127) / 255);
            result[3 * i + 1] = (uint8_t)((m * k + 127) / 255);
            result[3 * i + 2] = (uint8_t)((y * k + 127) / 255);
        }
        uint8_t *shrunk = realloc(result, count * 3);
        if (shrunk != NULL) result = shrunk;
        components = 3;
    }
    out->width = (int32_t)width;
    out->height = (int32_t)height;
    out->channels = components;
    out->pixels = result;
    return KD_CODEC_OK;
}

// MARK: - JPEG encoding

/// A growable in-memory destination. (libjpeg-turbo's jpeg_mem_dest frees and replaces its buffer
/// as it grows, so after an error the caller cannot tell which pointer to free; this one can.)
typedef struct kd_jpeg_destination {
    struct jpeg_destination_mgr base;
    uint8_t *data;
    size_t capacity;
    size_t size;
} kd_jpeg_destination;

static void kd_jpeg_init_destination(j_compress_ptr cinfo) {
    kd_jpeg_destination *dest = (kd_jpeg_destination *)cinfo->dest;
    dest->capacity = 65536;
    dest->data = malloc(dest->capacity);
    if (dest->data == NULL) ERREXIT1(cinfo, JERR_OUT_OF_MEMORY, 0);
    dest->base.next_output_byte = dest->data;
    dest->base.free_in_buffer = dest->capacity;
}

static boolean kd_jpeg_empty_output_buffer(j_compress_ptr cinfo) {
    kd_jpeg_destination *dest = (kd_jpeg_destination *)cinfo->dest;
    size_t used = dest->capacity;   // the contract: the whole buffer is full
    uint8_t *grown = realloc(dest->data, dest->capacity * 2);
    if (grown == NULL) ERREXIT1(cinfo, JERR_OUT_OF_MEMORY, 0);
    dest->data = grown;
    dest->capacity *= 2;
    dest->base.next_output_byte = dest->data + used;
    dest->base.free_in_buffer = dest->capacity - used;
    return TRUE;
}

static void kd_jpeg_term_destination(j_compress_ptr cinfo) {
    kd_jpeg_destination *dest = (kd_jpeg_destination *)cinfo->dest;
    dest->size = dest->capacity - dest->base.free_in_buffer;
}

int kd_jpeg_encode(const uint8_t *pixels, int32_t width, int32_t height, int channels, int quality,
                   uint8_t **out, size_t *out_size, char message[256]) {
    return kd_jpeg_encode_progression(pixels, width, height, channels, quality, 0, out, out_size, message);
}

int kd_jpeg_encode_progression(const uint8_t *pixels, int32_t width, int32_t height, int channels, int quality,
                               int progression, uint8_t **out, size_t *out_size, char message[256]) {
    jpeg_scan_info *volatile script = NULL;
    *out = NULL;
    *out_size = 0;
    message[0] = 0;
    if ((channels != 1 && channels != 3 && channels != 4) || width <= 0 || height <= 0 || quality < 1 || quality > 100) {
        snprintf(message, 256, "JPEG encoding needs 1, 3 or 4 channels, a positive size and quality 1...100 "
                 "(got %d channels, %d x %d, quality %d)", channels, width, height, quality);
        return KD_CODEC_BAD_ARGUMENT;
    }
    struct jpeg_compress_struct cinfo;
    kd_jpeg_error error;
    kd_jpeg_destination dest;
    memset(&dest, 0, sizeof dest);

    cinfo.err = &error.base;
    kd_jpeg_install(&error);
    if (setjmp(error.jump)) {
        jpeg_destroy_compress(&cinfo);
        free(dest.data);
        free(script);
        snprintf(message, 256, "%s", error.message);
        return KD_CODEC_CORRUPT;
    }
    jpeg_create_compress(&cinfo);
    dest.base.init_destination = kd_jpeg_init_destination;
    dest.base.empty_output_buffer = kd_jpeg_empty_output_buffer;
    dest.base.term_destination = kd_jpeg_term_destination;
    cinfo.dest = &dest.base;
    cinfo.image_width = (JDIMENSION)width;
    cinfo.image_height = (JDIMENSION)height;
    cinfo.input_components = channels;
    cinfo.in_color_space = channels == 1 ? JCS_GRAYSCALE : channels == 3 ? JCS_RGB : JCS_CMYK;
    jpeg_set_defaults(&cinfo);   // CMYK input is stored as YCCK with an Adobe marker
    jpeg_set_quality(&cinfo, quality, TRUE);
    if (progression == 1) {
        jpeg_simple_progression(&cinfo);
    } else if (progression == 2) {
        // The longest valid script: per component, DC, then each AC coefficient alone, first at
        // 1-bit precision and then refined (1 + 63 + 63 scans per component).
        int components = cinfo.num_components, n = 0;
        script = calloc((size_t)components * 127, sizeof(jpeg_scan_info));
        if (script == NULL) ERREXIT1(&cinfo, JERR_OUT_OF_MEMORY, 0);
        for (int c = 0; c < components; c++) {
            jpeg_scan_info *s = &script[n++];
            s->comps_in_scan = 1; s->component_index[0] = c; s->Ss = 0; s->Se = 0; s->Ah = 0; s->Al = 0;
            for (int pass = 0; pass < 2; pass++) {
                for (int k = 1; k < 64; k++) {
                    s = &script[n++];
                    s->comps_in_scan = 1; s->component_index[0] = c; s->Ss = k; s->Se = k;
                    s->Ah = pass == 0 ? 0 : 1; s->Al = pass == 0 ? 1 : 0;
                }
            }
        }
        cinfo.scan_info = script;
        cinfo.num_scans = n;
    }
    jpeg_start_compress(&cinfo, TRUE);
    size_t rowBytes = (size_t)width * (size_t)channels;
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = (JSAMPROW)(pixels + (size_t)cinfo.next_scanline * rowBytes);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    free(script);
    *out = dest.data;
    *out_size = dest.size;
    return KD_CODEC_OK;
}

// MARK: - PNG error manager and memory I/O

typedef struct kd_png_error {
    jmp_buf jump;
    char message[256];
} kd_png_error;

/// libpng only requires that an error function never returns; this one jumps to the caller's own
/// jmp_buf (not png_jmpbuf), so libpng's errors and this file's checks share one cleanup path.
static void kd_png_error_fn(png_structp png, png_const_charp text) {
    kd_png_error *error = (kd_png_error *)png_get_error_ptr(png);
    snprintf(error->message, sizeof error->message, "%s", text);
    longjmp(error->jump, 1);
}

/// Plain libpng warnings concern ancillary data (which decoding discards anyway, see below) or
/// misuse by this file; they are not printed. Anything that affects pixels is an error or a
/// benign error, and benign errors are made errors with png_set_benign_errors(png, 0).
static void kd_png_warning_fn(png_structp png, png_const_charp text) {
    (void)png;
    (void)text;
}

typedef struct kd_png_reader {
    const uint8_t *data;
    size_t size;
    size_t position;
} kd_png_reader;

static void kd_png_read_fn(png_structp png, png_bytep destination, size_t count) {
    kd_png_reader *reader = (kd_png_reader *)png_get_io_ptr(png);
    if (count > reader->size - reader->position)
        png_error(png, "unexpected end of data: the file is truncated");
    memcpy(destination, reader->data + reader->position, count);
    reader->position += count;
}

typedef struct kd_buffer {
    uint8_t *data;
    size_t size;
    size_t capacity;
} kd_buffer;

static void kd_png_write_fn(png_structp png, png_bytep source, size_t count) {
    kd_buffer *buffer = (kd_buffer *)png_get_io_ptr(png);
    if (count > buffer->capacity - buffer->size) {
        size_t capacity = buffer->capacity ? buffer->capacity : 65536;
        while (count > capacity - buffer->size) capacity *= 2;
        uint8_t *grown = realloc(buffer->data, capacity);
        if (grown == NULL) png_error(png, "out of memory for the encoded PNG");
        buffer->data = grown;
        buffer->capacity = capacity;
    }
    memcpy(buffer->data + buffer->size, source, count);
    buffer->size += count;
}

static void kd_png_flush_fn(png_structp png) { (void)png; }

// MARK: - PNG decoding

int kd_png_decode(const uint8_t *data, size_t size, int64_t max_pixels, int palette_indices,
                  kd_decoded_image *out) {
    memset(out, 0, sizeof *out);
    if (size < 8 || png_sig_cmp(data, 0, 8) != 0) {
        kd_set_message(out->message, "not a PNG file (bad 8-byte signature)");
        return KD_CODEC_CORRUPT;
    }
    kd_png_error error;
    error.message[0] = 0;
    kd_png_reader reader = { data, size, 0 };
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &error, kd_png_error_fn, kd_png_warning_fn);
    if (png == NULL) {
        kd_set_message(out->message, "out of memory for the PNG decoder");
        return KD_CODEC_NO_MEMORY;
    }
    png_infop info = png_create_info_struct(png);
    if (info == NULL) {
        png_destroy_read_struct(&png, NULL, NULL);
        kd_set_message(out->message, "out of memory for the PNG decoder");
        return KD_CODEC_NO_MEMORY;
    }
    uint8_t *volatile pixels = NULL;
    png_bytep *volatile rows = NULL;
    volatile int status = KD_CODEC_CORRUPT;
    if (setjmp(error.jump)) {
        png_destroy_read_struct(&png, &info, NULL);
        free(pixels);
        free(rows);
        snprintf(out->message, sizeof out->message, "%s", error.message);
        return status;
    }
    png_set_benign_errors(png, 0);
    // Only IHDR, PLTE, tRNS, IDAT and IEND matter for pixels; everything else (colour profiles,
    // text, which may be compressed bombs) is discarded unread.
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, NULL, -1);
    png_set_read_fn(png, &reader, kd_png_read_fn);
    png_read_info(png, info);

    png_uint_32 width32 = 0, height32 = 0;
    int depth = 0, colorType = 0, interlace = 0;
    png_get_IHDR(png, info, &width32, &height32, &depth, &colorType, &interlace, NULL, NULL);
    int64_t width = width32, height = height32;
    out->width = (int32_t)width;
    out->height = (int32_t)height;
    if (width * height > max_pixels) {
        status = KD_CODEC_TOO_LARGE;
        snprintf(error.message, sizeof error.message,
                 "the header announces %lld x %lld pixels, over the limit of %lld pixels",
                 (long long)width, (long long)height, (long long)max_pixels);
        longjmp(error.jump, 1);
    }
    png_colorp palette = NULL;
    int paletteCount = 0;
    uint8_t alpha[256];
    int trnsCount = 0;
    if (colorType == PNG_COLOR_TYPE_PALETTE) {
        if (!png_get_PLTE(png, info, &palette, &paletteCount) || paletteCount <= 0) {
            kd_set_message(error.message, "palette PNG without a PLTE chunk");
            longjmp(error.jump, 1);
        }
        png_bytep trns = NULL;
        if (png_get_valid(png, info, PNG_INFO_tRNS) && png_get_tRNS(png, info, &trns, &trnsCount, NULL)
            && trns != NULL) {
            if (trnsCount > 256) trnsCount = 256;
            memcpy(alpha, trns, (size_t)trnsCount);   // info (which owns trns) is freed before use
        } else {
            trnsCount = 0;
        }
        out->palette_count = paletteCount;
        for (int i = 0; i < paletteCount; i++) {
            out->palette[3 * i] = palette[i].red;
            out->palette[3 * i + 1] = palette[i].green;
            out->palette[3 * i + 2] = palette[i].blue;
        }
        // Palette images are always read as indices (one per byte); expansion to RGB(A) is done
        // below after every index has been checked against the palette size.
        if (depth < 8) png_set_packing(png);
    } else if (palette_indices) {
        status = KD_CODEC_NOT_PALETTE;
        static const char *names[] = { "gray", "?", "RGB", "palette", "gray+alpha", "?", "RGBA" };
        snprintf(error.message, sizeof error.message, "the PNG is %d-bit %s, not a palette image",
                 depth, colorType >= 0 && colorType <= 6 ? names[colorType] : "?");
        longjmp(error.jump, 1);
    } else {
        if (colorType == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
        int hasTransparency = png_get_valid(png, info, PNG_INFO_tRNS) != 0;
        if (hasTransparency) png_set_tRNS_to_alpha(png);
        if (depth == 16) png_set_scale_16(png);
        if (colorType == PNG_COLOR_TYPE_GRAY_ALPHA || (colorType == PNG_COLOR_TYPE_GRAY && hasTransparency))
            png_set_gray_to_rgb(png);
    }
    png_set_interlace_handling(png);
    png_read_update_info(png, info);

    int channels = png_get_channels(png, info);
    size_t rowBytes = png_get_rowbytes(png, info);
    if (png_get_bit_depth(png, info) != 8 || (channels != 1 && channels != 3 && channels != 4)
        || rowBytes != (size_t)width * (size_t)channels) {
        snprintf(error.message, sizeof error.message,
                 "unexpected decoder output layout (%d channels, %d bits, %zu bytes per row)",
                 channels, png_get_bit_depth(png, info), rowBytes);
        longjmp(error.jump, 1);
    }
    pixels = malloc(rowBytes * (size_t)height);
    rows = malloc(sizeof(png_bytep) * (size_t)height);
    if (pixels == NULL || rows == NULL) {
        status = KD_CODEC_NO_MEMORY;
        kd_set_message(error.message, "out of memory for the pixel buffer");
        longjmp(error.jump, 1);
    }
    for (int64_t y = 0; y < height; y++) rows[y] = pixels + (size_t)y * rowBytes;
    png_read_image(png, rows);

    if (colorType == PNG_COLOR_TYPE_PALETTE) {
        size_t count = (size_t)width * (size_t)height;
        for (size_t i = 0; i < count; i++) {
            if (pixels[i] >= paletteCount) {
                status = KD_CODEC_BAD_PALETTE_INDEX;
                snprintf(error.message, sizeof error.message,
                         "pixel (%zu, %zu) has palette index %u but the palette has only %d entries",
                         i % (size_t)width, i / (size_t)width, pixels[i], paletteCount);
                longjmp(error.jump, 1);
            }
        }
    }
    png_read_end(png, NULL);   // up to IEND: catches truncation after the image data
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    rows = NULL;

    out->width = (int32_t)width;
    out->height = (int32_t)height;
    out->channels = 1;
    if (colorType == PNG_COLOR_TYPE_PALETTE && !palette_indices) {
        int outChannels = trnsCount > 0 ? 4 : 3;
        size_t count = (size_t)width * (size_t)height;
        uint8_t *expanded = malloc(count * (size_t)outChannels);
        if (expanded == NULL) {
            free(pixels);
            kd_set_message(out->message, "out of memory for the pixel buffer");
            return KD_CODEC_NO_MEMORY;
        }
        for (size_t i = 0; i < count; i++) {
            unsigned index = pixels[i];
            uint8_t *p = expanded + i * (size_t)outChannels;
            p[0] = out->palette[3 * index];
            p[1] = out->palette[3 * index + 1];
            p[2] = out->palette[3 * index + 2];
            if (outChannels == 4) p[3] = (int)index < trnsCount ? alpha[index] : 255;
        }
        free(pixels);
        out->pixels = expanded;
        out->channels = outChannels;
    } else {
        out->pixels = pixels;
        out->channels = channels;
    }
    return KD_CODEC_OK;
}

// MARK: - PNG encoding

/// Samples per pixel of a PNG colour type as stored (a palette pixel is one index); 0 if unknown.
static int kd_png_samples_per_pixel(int color_type) {
    switch (color_type) {
    case PNG_COLOR_TYPE_GRAY: return 1;
    case PNG_COLOR_TYPE_RGB: return 3;
    case PNG_COLOR_TYPE_PALETTE: return 1;
    case PNG_COLOR_TYPE_GRAY_ALPHA: return 2;
    case PNG_COLOR_TYPE_RGB_ALPHA: return 4;
    default: return 0;
    }
}

int kd_png_encode(const uint8_t *samples, int32_t width, int32_t height, int color_type, int bit_depth,
                  int interlace, const uint8_t *palette, int palette_count, const uint8_t *trns,
                  int trns_count, uint8_t **out, size_t *out_size, char message[256]) {
    *out = NULL;
    *out_size = 0;
    message[0] = 0;
    const int channels = kd_png_samples_per_pixel(color_type);
    int paletteOK = color_type != PNG_COLOR_TYPE_PALETTE
        || (bit_depth == 8 && palette != NULL && palette_count >= 1 && palette_count <= 256
            && trns_count >= 0 && trns_count <= palette_count);
    if (channels == 0 || (bit_depth != 8 && bit_depth != 16) || width <= 0 || height <= 0 || !paletteOK) {
        snprintf(message, 256, "unsupported PNG layout: colour type %d, %d bits, %d x %d, %d palette entries",
                 color_type, bit_depth, width, height, palette_count);
        return KD_CODEC_BAD_ARGUMENT;
    }
    kd_png_error error;
    error.message[0] = 0;
    kd_buffer buffer = { NULL, 0, 0 };
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &error, kd_png_error_fn, kd_png_warning_fn);
    if (png == NULL) {
        kd_set_message(message, "out of memory for the PNG encoder");
        return KD_CODEC_NO_MEMORY;
    }
    png_infop info = png_create_info_struct(png);
    if (info == NULL) {
        png_destroy_write_struct(&png, NULL);
        kd_set_message(message, "out of memory for the PNG encoder");
        return KD_CODEC_NO_MEMORY;
    }
    png_bytep *volatile rows = NULL;
    if (setjmp(error.jump)) {
        png_destroy_write_struct(&png, &info);
        free(rows);
        free(buffer.data);
        snprintf(message, 256, "%s", error.message);
        return KD_CODEC_CORRUPT;
    }
    png_set_benign_errors(png, 0);
    png_set_write_fn(png, &buffer, kd_png_write_fn, kd_png_flush_fn);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, bit_depth, color_type,
                 interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (color_type == PNG_COLOR_TYPE_PALETTE) {
        png_color colors[256];
        for (int i = 0; i < palette_count; i++) {
            colors[i].red = palette[3 * i];
            colors[i].green = palette[3 * i + 1];
            colors[i].blue = palette[3 * i + 2];
        }
        png_set_PLTE(png, info, colors, palette_count);
        if (trns != NULL && trns_count > 0) png_set_tRNS(png, info, trns, trns_count, NULL);
    }
    png_write_info(png, info);
    size_t rowBytes = (size_t)width * (size_t)channels * (size_t)(bit_depth / 8);
    rows = malloc(sizeof(png_bytep) * (size_t)height);
    if (rows == NULL) png_error(png, "out of memory for the row table");
    for (int32_t y = 0; y < height; y++) rows[y] = (png_bytep)(samples + (size_t)y * rowBytes);
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(rows);
    *out = buffer.data;
    *out_size = buffer.size;
    return KD_CODEC_OK;
}

// MARK: - gzip with integrity checks (zlib, bound at run time)

// libarchive 3.6's gzip filter never checks a member's trailer ("XXX TODO: Verify the length and
// CRC" in archive_read_support_filter_gzip.c): a member whose CRC-32 or length field is wrong reads
// as intact. zlib's inflate in gzip mode checks both. zlib is always loaded with libarchive and
// libpng, but this target does not link it directly, so its five entry points are bound with dlopen.

#include <dlfcn.h>
#include <zlib.h>

typedef int (*kd_inflateInit2_fn)(z_streamp, int, const char *, int);
typedef int (*kd_inflate_fn)(z_streamp, int);
typedef int (*kd_inflateReset_fn)(z_streamp);
typedef int (*kd_inflateEnd_fn)(z_streamp);

static struct {
    int loaded;
    kd_inflateInit2_fn init2;
    kd_inflate_fn inflate;
    kd_inflateReset_fn reset;
    kd_inflateEnd_fn end;
} kd_zlib;

static int kd_zlib_load(void) {
    if (kd_zlib.loaded) return kd_zlib.loaded > 0;
    const char *names[] = {"libz.so.1", "libz.so", "libz.1.dylib", "libz.dylib"};
    void *handle = NULL;
    for (size_t i = 0; i < sizeof names / sizeof names[0] && handle == NULL; i++) handle = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (handle != NULL) {
        kd_zlib.init2 = (kd_inflateInit2_fn)dlsym(handle, "inflateInit2_");
        kd_zlib.inflate = (kd_inflate_fn)dlsym(handle, "inflate");
        kd_zlib.reset = (kd_inflateReset_fn)dlsym(handle, "inflateReset");
        kd_zlib.end = (kd_inflateEnd_fn)dlsym(handle, "inflateEnd");
    }
    kd_zlib.loaded = (kd_zlib.init2 && kd_zlib.inflate && kd_zlib.reset && kd_zlib.end) ? 1 : -1;
    return kd_zlib.loaded > 0;
}

struct kd_gunzip {
    z_stream stream;
    int member;        // 1-based number of the member being inflated
    int between;       // a member ended; the next input must start another one (or be zero padding)
    int failed;        // an error was met after some output: reported by the next call
    char failure[256];
};

kd_gunzip *kd_gunzip_new(char message[256]) {
    if (!kd_zlib_load()) {
        kd_set_message(message, "zlib (libz.so.1) cannot be loaded");
        return NULL;
    }
    kd_gunzip *g = calloc(1, sizeof *g);
    if (g == NULL) { kd_set_message(message, "out of memory"); return NULL; }
    if (kd_zlib.init2(&g->stream, 15 + 16, ZLIB_VERSION, (int)sizeof(z_stream)) != Z_OK) {
        free(g);
        kd_set_message(message, "zlib cannot start a gzip stream");
        return NULL;
    }
    g->member = 1;
    return g;
}

void kd_gunzip_free(kd_gunzip *g) {
    if (g == NULL) return;
    kd_zlib.end(&g->stream);
    free(g);
}

int kd_gunzip_run(kd_gunzip *g, const uint8_t *input, size_t input_size, size_t *consumed,
                  uint8_t *output, size_t output_size, size_t *produced, int final_input, char message[256]) {
    *consumed = 0;
    *produced = 0;
    message[0] = 0;
    if (g->failed) {
        snprintf(message, 256, "%s", g->failure);
        return KD_CODEC_CORRUPT;
    }
    size_t in = 0, out = 0;
    while (out < output_size) {
        if (g->between) {
            // After a member: another member, or trailing zero bytes (tape padding), nothing else.
            if (in == input_size) break;
            if (input[in] == 0) { in++; continue; }
            if (input[in] != 0x1F) {
                snprintf(g->failure, 256, "data after gzip member %d is neither another gzip member nor zero padding "
                         "(byte 0x%02x)", g->member - 1, input[in]);
                goto failed;
            }
            kd_zlib.reset(&g->stream);
            g->between = 0;
        }
        if (in == input_size && !final_input) break;
        uInt inChunk = (uInt)((input_size - in) > 0x40000000u ? 0x40000000u : (input_size - in));
        uInt outChunk = (uInt)((output_size - out) > 0x40000000u ? 0x40000000u : (output_size - out));
        g->stream.next_in = (Bytef *)(input + in);
        g->stream.avail_in = inChunk;
        g->stream.next_out = output + out;
        g->stream.avail_out = outChunk;
        int status = kd_zlib.inflate(&g->stream, Z_NO_FLUSH);
        in += inChunk - g->stream.avail_in;
        out += outChunk - g->stream.avail_out;
        if (status == Z_STREAM_END) {
            // zlib has checked this member's CRC-32 and length against its trailer.
            g->member++;
            g->between = 1;
            continue;
        }
        if (status == Z_BUF_ERROR || (status == Z_OK && g->stream.avail_in == 0 && g->stream.avail_out != 0)) {
            if (final_input && in == input_size && g->stream.avail_out != 0) {
                snprintf(g->failure, 256, "the gzip data ends inside member %d (truncated)", g->member);
                goto failed;
            }
            break;   // needs more input or more output space
        }
        if (status != Z_OK) {
            snprintf(g->failure, 256, "gzip member %d: %s", g->member,
                     g->stream.msg != NULL ? g->stream.msg : "invalid compressed data");
            goto failed;
        }
    }
    *consumed = in;
    *produced = out;
    return KD_CODEC_OK;
failed:
    // Hand over what was decompressed before the damage first, so that the reader can name the
    // member it was in; the next call reports the error.
    g->failed = 1;
    *consumed = in;
    *produced = out;
    if (out > 0) return KD_CODEC_OK;
    snprintf(message, 256, "%s", g->failure);
    return KD_CODEC_CORRUPT;
}

int kd_gunzip_finished(const kd_gunzip *g) { return g->between; }
