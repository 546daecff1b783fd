/*
 * lm-engine: livemesh's warm media engine.
 *
 * One long-lived process per worker slot that turns one MPEG-TS segment into one MPEG-TS segment,
 * with the same meaning as `ffmpeg $(segmentStageArgs(...))` (libs/media/src/args.builder.ts), but
 * without paying for a process start, library initialisation, decoder set-up and (optionally) the
 * x264 encoder set-up on every 2 s segment. The pattern follows go-livepeer LPMS's transcoder: demux
 * from memory, keep codec contexts between segments, flush at each segment's end so that no frame
 * of a segment is held back for the next one (a stage must not add a segment of latency, see
 * docs/design.md "One ffmpeg per segment").
 *
 * Protocol (stdin/stdout, one request at a time, all integers little-endian u32):
 *   request  = header length, header JSON, payload length, payload (the input segment)
 *   response = header length, header JSON, payload length, payload (the output segment, or empty)
 * Request header (flat; this file parses exactly these fields and refuses anything else):
 *   {"op":"transform","videoFilter":string|null,"video":"copy"|{"preset":s,"profile":s,"crf":n,
 *    "bitrateKbps":n,"maxrateKbps":n,"bufsizeKbps":n,"threads":n},"audio":"copy",
 *    "maxWidth":n,"maxHeight":n}
 * Response header:
 *   {"ok":true,"videoFrames":n,"audioPackets":n,"decodeErrors":n,"micros":{...}}
 *   {"ok":false,"code":"LM_MEDIA_INPUT"|"LM_ENGINE","message":"..."}
 * stdout carries only the protocol; libav logs go to stderr (level error unless --log-level).
 * The process exits 0 on stdin EOF between requests, 2 when the framing itself is broken (the
 * client cannot be trusted to be in step any more, so answering further would be guessing).
 *
 * Flags: --max-alloc BYTES (av_max_alloc, like the CLI's -max_alloc), --max-width N,
 * --max-height N, --max-segment-bytes N, --encoder reopen|reuse, --probesize BYTES,
 * --analyzeduration MICROS, --log-level error|warning|info|debug.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libavcodec/avcodec.h>
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
#include <libavformat/avformat.h>
#include <libavutil/avstring.h>
#include <libavutil/mem.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>

#define MAX_HEADER_BYTES (64 * 1024)
#define TS_PACKET 188
#define IO_BUFFER 32768

/* ---- configuration (argv, fixed for the process's life) ---------------------------------- */

enum EncoderMode { ENC_REOPEN, ENC_REUSE };

static struct {
    size_t max_alloc;
    int max_width, max_height;
    size_t max_segment;
    enum EncoderMode encoder_mode;
    int64_t probesize, analyzeduration;
} cfg = {
    .max_alloc = 512u * 1024 * 1024,
    .max_width = 7680,
    .max_height = 4320,
    .max_segment = 64u * 1024 * 1024,
    /* Reopen x264 per segment, as the CLI path does (a fresh encoder opens with an IDR and no
     * rate-control state from the previous segment). Keeping it open needs
     * AV_CODEC_CAP_ENCODER_FLUSH to accept frames after the end-of-segment drain, and FFmpeg 5.1's
     * libx264 wrapper (Debian 12) does not declare it, so `--encoder reuse` refuses to run there.
     * Measured on 20 segments of 720p -> 854x480 at 1200 kb/s veryfast (2 cores): opening x264
     * takes 1.5-3.8 ms wall per segment against ~470 ms for the segment, so there is little to win
     * anyway. Rebuilding the filter graph per segment (it has seen EOF) takes 4-8 ms. */
    .encoder_mode = ENC_REOPEN,
    /* A 2 s segment holds every stream's first packets in its first few hundred KB; probing
     * further only decodes frames we decode again anyway. 0.5 s is enough for AAC's and H.264's
     * parameters, the frame rate x264's rate control needs included (the e2e test compares the
     * output with the CLI's 5 s probe). Measured ~5 ms per 720p segment with either setting. */
    .probesize = 1000000,
    .analyzeduration = 500000,
};

/* ---- request ------------------------------------------------------------------------------ */

typedef struct {
    int copy;
    char preset[16];
    char profile[16];
    int64_t crf, bitrate, maxrate, bufsize, threads; /* -1 = not given */
} VideoOpts;

typedef struct {
    int has_filter;
    char *video_filter; /* owned */
    VideoOpts video;
    int64_t max_width, max_height; /* -1 = the argv limits */
    int have_op, have_video, have_audio;
} Request;

/* Error results carry which side is at fault: the client maps them to MediaInputError (the
 * segment is unusable, do not retry) or to a process error (retry elsewhere). */
enum Code { OK = 0, E_INPUT = 1, E_ENGINE = 2 };

typedef struct {
    enum Code code;
    char message[512];
} Result;

static enum Code fail(Result *r, enum Code code, const char *fmt, ...)
{
    va_list ap;
    if (r->code != OK) return r->code; /* keep the first, most specific reason */
    r->code = code;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof r->message, fmt, ap);
    va_end(ap);
    return code;
}

static const char *averr(int err)
{
    static char buf[AV_ERROR_MAX_STRING_SIZE];
    return av_make_error_string(buf, sizeof buf, err);
}

/* ---- a tiny JSON reader for exactly the request's flat fields ----------------------------- */
/* No JSON library: the engine's only input is this header, and a hand-written reader that knows
 * its eight keys refuses everything else by construction (unknown keys, nesting, floats). */

typedef struct {
    const char *p, *end;
    Result *r;
} Json;

static void ws(Json *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) j->p++;
}

static int expect(Json *j, char c)
{
    ws(j);
    if (j->p >= j->end || *j->p != c) {
        fail(j->r, E_ENGINE, "bad request header: expected '%c' at byte %ld", c, (long)(j->end - j->p));
        return -1;
    }
    j->p++;
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Reads a string into a fresh av_malloc'd, NUL-terminated buffer (never longer than its JSON). */
static char *json_string(Json *j)
{
    char *out, *o;
    ws(j);
    if (j->p >= j->end || *j->p != '"') {
        fail(j->r, E_ENGINE, "bad request header: expected a string");
        return NULL;
    }
    j->p++;
    out = o = av_malloc(j->end - j->p + 1);
    if (!out) {
        fail(j->r, E_ENGINE, "out of memory");
        return NULL;
    }
    while (j->p < j->end && *j->p != '"') {
        unsigned char c = (unsigned char)*j->p++;
        if (c < 0x20) goto bad;
        if (c != '\\') {
            *o++ = (char)c;
            continue;
        }
        if (j->p >= j->end) goto bad;
        c = (unsigned char)*j->p++;
        switch (c) {
        case '"': case '\\': case '/': *o++ = (char)c; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            unsigned cp = 0;
            if (j->end - j->p < 4) goto bad;
            for (int i = 0; i < 4; i++) {
                int h = hexval(j->p[i]);
                if (h < 0) goto bad;
                cp = cp << 4 | (unsigned)h;
            }
            j->p += 4;
            /* NUL would cut the string short silently; surrogates are not needed for a path. */
            if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF)) goto bad;
            if (cp < 0x80) {
                *o++ = (char)cp;
            } else if (cp < 0x800) {
                *o++ = (char)(0xC0 | cp >> 6);
                *o++ = (char)(0x80 | (cp & 0x3F));
            } else {
                *o++ = (char)(0xE0 | cp >> 12);
                *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
                *o++ = (char)(0x80 | (cp & 0x3F));
            }
            break;
        }
        default: goto bad;
        }
    }
    if (j->p >= j->end) goto bad;
    j->p++;
    *o = 0;
    return out;
bad:
    av_free(out);
    fail(j->r, E_ENGINE, "bad request header: malformed string");
    return NULL;
}

/* Non-negative integers only: every numeric field is a count, a rate or a size. */
static int json_int(Json *j, int64_t *v)
{
    int64_t x = 0;
    int digits = 0;
    ws(j);
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
        if (x > 1000000000) break;
        x = x * 10 + (*j->p++ - '0');
        digits++;
    }
    if (!digits || (j->p < j->end && (*j->p == '.' || *j->p == 'e' || *j->p == 'E' || (*j->p >= '0' && *j->p <= '9')))) {
        fail(j->r, E_ENGINE, "bad request header: expected a small non-negative integer");
        return -1;
    }
    *v = x;
    return 0;
}

static int json_null(Json *j)
{
    ws(j);
    if (j->end - j->p >= 4 && !memcmp(j->p, "null", 4)) {
        j->p += 4;
        return 1;
    }
    return 0;
}

static int peek(Json *j, char c)
{
    ws(j);
    return j->p < j->end && *j->p == c;
}

static int one_of(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (!strcmp(s, *list)) return 1;
    return 0;
}

static int int_in(Result *r, const char *key, int64_t v, int64_t lo, int64_t hi)
{
    if (v < lo || v > hi) {
        fail(r, E_ENGINE, "bad request header: %s must be an integer %lld..%lld", key, (long long)lo, (long long)hi);
        return -1;
    }
    return 0;
}

/* The ranges are args.builder.ts checkVideo's, so both paths refuse the same settings. */
static int parse_video_object(Json *j, VideoOpts *v)
{
    static const char *const presets[] = {"ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", NULL};
    static const char *const profiles[] = {"baseline", "main", "high", NULL};
    unsigned seen = 0;
    if (expect(j, '{')) return -1;
    if (peek(j, '}')) return expect(j, '}');
    for (;;) {
        char *key = json_string(j);
        unsigned bit;
        int64_t *target = NULL, lo = 0, hi = 0;
        if (!key || expect(j, ':')) goto bad;
        if (!strcmp(key, "preset") || !strcmp(key, "profile")) {
            int is_preset = key[1] == 'r' && key[2] == 'e';
            char *s = json_string(j);
            bit = is_preset ? 1 : 2;
            if (!s) goto bad;
            if (!one_of(s, is_preset ? presets : profiles)) {
                fail(j->r, E_ENGINE, "bad request header: unknown %s", key);
                av_free(s);
                goto bad;
            }
            av_strlcpy(is_preset ? v->preset : v->profile, s, sizeof v->preset);
            av_free(s);
        } else {
            if (!strcmp(key, "crf")) target = &v->crf, lo = 0, hi = 51, bit = 4;
            else if (!strcmp(key, "bitrateKbps")) target = &v->bitrate, lo = 50, hi = 100000, bit = 8;
            else if (!strcmp(key, "maxrateKbps")) target = &v->maxrate, lo = 50, hi = 100000, bit = 16;
            else if (!strcmp(key, "bufsizeKbps")) target = &v->bufsize, lo = 50, hi = 200000, bit = 32;
            else if (!strcmp(key, "threads")) target = &v->threads, lo = 0, hi = 64, bit = 64;
            else {
                fail(j->r, E_ENGINE, "bad request header: unknown video field %.40s", key);
                goto bad;
            }
            if (json_int(j, target) || int_in(j->r, key, *target, lo, hi)) goto bad;
        }
        if (seen & bit) {
            fail(j->r, E_ENGINE, "bad request header: %s given twice", key);
            goto bad;
        }
        seen |= bit;
        av_free(key);
        if (peek(j, ',')) {
            j->p++;
            continue;
        }
        return expect(j, '}');
    bad:
        av_free(key);
        return -1;
    }
}

static int parse_request(const char *text, size_t len, Request *q, Result *r)
{
    Json j = {text, text + len, r};
    unsigned seen = 0;
    memset(q, 0, sizeof *q);
    q->max_width = q->max_height = -1;
    q->video.crf = q->video.bitrate = q->video.maxrate = q->video.bufsize = q->video.threads = -1;
    av_strlcpy(q->video.preset, "veryfast", sizeof q->video.preset);
    av_strlcpy(q->video.profile, "high", sizeof q->video.profile);
    if (expect(&j, '{')) return -1;
    for (;;) {
        char *key = json_string(&j), *s = NULL;
        unsigned bit;
        if (!key || expect(&j, ':')) goto bad;
        if (!strcmp(key, "op")) {
            bit = 1;
            if (!(s = json_string(&j))) goto bad;
            if (strcmp(s, "transform")) {
                fail(r, E_ENGINE, "bad request header: unknown op");
                goto bad;
            }
            q->have_op = 1;
        } else if (!strcmp(key, "videoFilter")) {
            bit = 2;
            if (!json_null(&j)) {
                if (!(q->video_filter = json_string(&j))) goto bad;
                q->has_filter = q->video_filter[0] != 0;
            }
        } else if (!strcmp(key, "video")) {
            bit = 4;
            if (peek(&j, '{')) {
                if (parse_video_object(&j, &q->video)) goto bad;
            } else {
                if (!(s = json_string(&j))) goto bad;
                if (strcmp(s, "copy")) {
                    fail(r, E_ENGINE, "bad request header: video must be \"copy\" or an object");
                    goto bad;
                }
                q->video.copy = 1;
            }
            q->have_video = 1;
        } else if (!strcmp(key, "audio")) {
            bit = 8;
            if (!(s = json_string(&j))) goto bad;
            if (strcmp(s, "copy")) {
                fail(r, E_ENGINE, "bad request header: audio must be \"copy\"");
                goto bad;
            }
            q->have_audio = 1;
        } else if (!strcmp(key, "maxWidth") || !strcmp(key, "maxHeight")) {
            int64_t *t = key[3] == 'W' ? &q->max_width : &q->max_height;
            bit = key[3] == 'W' ? 16 : 32;
            if (json_int(&j, t) || int_in(r, key, *t, 16, 16384)) goto bad;
        } else {
            fail(r, E_ENGINE, "bad request header: unknown field %.40s", key);
            goto bad;
        }
        if (seen & bit) {
            fail(r, E_ENGINE, "bad request header: %s given twice", key);
            goto bad;
        }
        seen |= bit;
        av_free(key);
        av_free(s);
        if (peek(&j, ',')) {
            j.p++;
            continue;
        }
        if (expect(&j, '}')) return -1;
        ws(&j);
        if (j.p != j.end) return fail(r, E_ENGINE, "bad request header: trailing bytes"), -1;
        break;
    bad:
        av_free(key);
        av_free(s);
        return -1;
    }
    if (!q->have_op || !q->have_video || !q->have_audio) return fail(r, E_ENGINE, "bad request header: op, video and audio are required"), -1;
    if (q->video.copy && q->has_filter) return fail(r, E_ENGINE, "bad request header: a video filter needs video encoding, not copy"), -1;
    return 0;
}

/* ---- memory I/O ----------------------------------------------------------------------------- */

typedef struct {
    const uint8_t *data;
    size_t size, pos;
} ReadBuf;

static int read_cb(void *opaque, uint8_t *buf, int n)
{
    ReadBuf *b = opaque;
    size_t left = b->size - b->pos;
    if (!left) return AVERROR_EOF;
    if ((size_t)n > left) n = (int)left;
    memcpy(buf, b->data + b->pos, n);
    b->pos += n;
    return n;
}

typedef struct {
    uint8_t *data;
    size_t size, cap;
} WriteBuf;

/* av_realloc, not realloc: the output is bounded by the same --max-alloc as libav itself. */
static int write_cb(void *opaque, uint8_t *buf, int n)
{
    WriteBuf *b = opaque;
    if (b->size + n > b->cap) {
        size_t cap = b->cap ? b->cap : 1 << 20;
        uint8_t *p;
        while (cap < b->size + n) cap *= 2;
        if (!(p = av_realloc(b->data, cap))) return AVERROR(ENOMEM);
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->size, buf, n);
    b->size += n;
    return n;
}

/* ---- warm state: what survives from one segment to the next -------------------------------- */

static struct {
    AVCodecContext *dec;       /* the video decoder, flushed between segments */
    AVCodecContext *enc;       /* x264, only kept with --encoder reuse */
    char enc_key[1024];        /* what the open encoder was opened with */
} warm;

static void drop_warm(void)
{
    avcodec_free_context(&warm.dec);
    avcodec_free_context(&warm.enc);
    warm.enc_key[0] = 0;
}

/* ---- one segment ---------------------------------------------------------------------------- */

typedef struct {
    AVPacket *pkt;
    AVRational tb; /* the time base pkt's timestamps are in */
} OutPacket;

typedef struct {
    const Request *q;
    Result *r;
    int max_w, max_h;
    AVFormatContext *in;
    AVIOContext *in_io;
    int vi, ai; /* input stream indexes, -1 when absent */
    AVRational vtb; /* the input video stream's time base: also the encoder's (-enc_time_base -1) */
    AVFilterGraph *graph;
    AVFilterContext *src, *sink;
    int gw, gh, gfmt; /* what the graph was built for */
    AVFrame *frame, *filtered;
    int first_encoded;
    AVCodecParameters *enc_par; /* the encoder's, kept for the muxer after a reopen-mode close */
    AVRational enc_tb;
    OutPacket *out;
    int nout, capout;
    int video_frames, audio_packets;
    /* Packets the decoder refused and pictures it concealed: counted, not fatal (see decode()). */
    int decode_errors;
    int64_t us_open, us_graph, us_encoder_open;
} Segment;

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Output packets are kept until the segment is complete: the muxer header needs the encoder's
 * parameters, which exist only once the first filtered frame has opened it. */
static int keep_packet(Segment *s, AVPacket *pkt, int out_index, AVRational tb)
{
    AVPacket *copy;
    if (s->nout == s->capout) {
        int cap = s->capout ? s->capout * 2 : 256;
        OutPacket *p = av_realloc_array(s->out, cap, sizeof *p);
        if (!p) return fail(s->r, E_ENGINE, "out of memory");
        s->out = p;
        s->capout = cap;
    }
    if (!(copy = av_packet_clone(pkt))) return fail(s->r, E_ENGINE, "out of memory");
    copy->stream_index = out_index;
    s->out[s->nout].pkt = copy;
    s->out[s->nout].tb = tb;
    s->nout++;
    return OK;
}

static int check_size(Segment *s, int w, int h)
{
    if (w > s->max_w || h > s->max_h)
        return fail(s->r, E_INPUT, "picture %dx%d is above the %dx%d limit", w, h, s->max_w, s->max_h);
    return OK;
}

static int open_input(Segment *s, ReadBuf *rb)
{
    const AVInputFormat *ts = av_find_input_format("mpegts");
    uint8_t *iobuf = av_malloc(IO_BUFFER);
    int ret;
    if (!iobuf || !(s->in_io = avio_alloc_context(iobuf, IO_BUFFER, 0, rb, read_cb, NULL, NULL))) {
        av_free(iobuf);
        return fail(s->r, E_ENGINE, "out of memory");
    }
    if (!(s->in = avformat_alloc_context())) return fail(s->r, E_ENGINE, "out of memory");
    s->in->pb = s->in_io;
    s->in->flags |= AVFMT_FLAG_CUSTOM_IO;
    s->in->probesize = cfg.probesize;
    s->in->max_analyze_duration = cfg.analyzeduration;
    if ((ret = avformat_open_input(&s->in, NULL, ts, NULL)) < 0) return fail(s->r, E_INPUT, "not MPEG-TS: %s", averr(ret));
    if ((ret = avformat_find_stream_info(s->in, NULL)) < 0) return fail(s->r, E_INPUT, "could not find codec parameters: %s", averr(ret));
    /* -map 0:v:0? -map 0:a:0?: the first of each kind, not av_find_best_stream's choice. */
    s->vi = s->ai = -1;
    for (unsigned i = 0; i < s->in->nb_streams; i++) {
        AVStream *st = s->in->streams[i];
        enum AVMediaType type = st->codecpar->codec_type;
        if (type == AVMEDIA_TYPE_VIDEO && s->vi < 0) s->vi = (int)i;
        else if (type == AVMEDIA_TYPE_AUDIO && s->ai < 0) s->ai = (int)i;
        else st->discard = AVDISCARD_ALL;
    }
    if (s->vi < 0 && s->ai < 0) return fail(s->r, E_INPUT, "the segment has no video or audio stream");
    if (s->vi >= 0) {
        AVCodecParameters *par = s->in->streams[s->vi]->codecpar;
        s->vtb = s->in->streams[s->vi]->time_base;
        /* Refuse a forged size before a decoder allocates for it (copy never decodes at all). */
        if (check_size(s, par->width, par->height)) return s->r->code;
    }
    return OK;
}

static int open_decoder(Segment *s)
{
    AVStream *st = s->in->streams[s->vi];
    const AVCodec *codec;
    int ret;
    /* The decoder is what warm mode saves most on; keep it unless the codec changes. H.264 in
     * MPEG-TS carries its SPS/PPS in band, so a new size or profile needs no reopen either. */
    if (warm.dec && warm.dec->codec_id == st->codecpar->codec_id &&
        warm.dec->extradata_size == st->codecpar->extradata_size &&
        (!warm.dec->extradata_size || !memcmp(warm.dec->extradata, st->codecpar->extradata, st->codecpar->extradata_size))) {
        warm.dec->pkt_timebase = st->time_base;
        return OK;
    }
    avcodec_free_context(&warm.dec);
    if (!(codec = avcodec_find_decoder(st->codecpar->codec_id))) return fail(s->r, E_INPUT, "no decoder for the video codec");
    if (!(warm.dec = avcodec_alloc_context3(codec))) return fail(s->r, E_ENGINE, "out of memory");
    if ((ret = avcodec_parameters_to_context(warm.dec, st->codecpar)) < 0) return fail(s->r, E_ENGINE, "decoder parameters: %s", averr(ret));
    warm.dec->pkt_timebase = st->time_base;
    warm.dec->thread_count = 0; /* the CLI's "-threads auto" for decoders */
    if ((ret = avcodec_open2(warm.dec, codec, NULL)) < 0) return fail(s->r, E_INPUT, "cannot open the video decoder: %s", averr(ret));
    return OK;
}

static int build_graph(Segment *s, const AVFrame *f)
{
    char args[256];
    AVFilterInOut *outputs = avfilter_inout_alloc(), *inputs = avfilter_inout_alloc();
    AVRational fr = av_guess_frame_rate(s->in, s->in->streams[s->vi], NULL);
    AVRational sar = f->sample_aspect_ratio.num ? f->sample_aspect_ratio : (AVRational){0, 1};
    char *chain = NULL;
    int ret;
    int64_t t0 = now_us();
    if (!outputs || !inputs || !(s->graph = avfilter_graph_alloc())) {
        ret = fail(s->r, E_ENGINE, "out of memory");
        goto done;
    }
    /* The CLI's default scaler flags, so a scale filter resamples exactly as the CLI path does. */
    s->graph->scale_sws_opts = av_strdup("flags=bicubic");
    snprintf(args, sizeof args, "video_size=%dx%d:pix_fmt=%d:time_base=%d/%d:pixel_aspect=%d/%d:frame_rate=%d/%d",
             f->width, f->height, f->format, s->vtb.num, s->vtb.den, sar.num, sar.den ? sar.den : 1, fr.num, fr.den ? fr.den : 1);
    if ((ret = avfilter_graph_create_filter(&s->src, avfilter_get_by_name("buffer"), "in", args, NULL, s->graph)) < 0 ||
        (ret = avfilter_graph_create_filter(&s->sink, avfilter_get_by_name("buffersink"), "out", NULL, NULL, s->graph)) < 0) {
        ret = fail(s->r, E_ENGINE, "cannot create the filter graph ends: %s", averr(ret));
        goto done;
    }
    /* `-pix_fmt yuv420p` is a format filter at the end of the CLI's graph too. */
    chain = av_asprintf("%s,format=yuv420p", s->q->has_filter ? s->q->video_filter : "null");
    outputs->name = av_strdup("in");
    outputs->filter_ctx = s->src;
    inputs->name = av_strdup("out");
    inputs->filter_ctx = s->sink;
    if (!chain || !outputs->name || !inputs->name) {
        ret = fail(s->r, E_ENGINE, "out of memory");
        goto done;
    }
    if ((ret = avfilter_graph_parse_ptr(s->graph, chain, &inputs, &outputs, NULL)) < 0 ||
        (ret = avfilter_graph_config(s->graph, NULL)) < 0) {
        ret = fail(s->r, E_ENGINE, "bad video filter: %s", averr(ret));
        goto done;
    }
    s->gw = f->width;
    s->gh = f->height;
    s->gfmt = f->format;
    ret = OK;
done:
    avfilter_inout_free(&inputs);
    avfilter_inout_free(&outputs);
    av_free(chain);
    s->us_graph += now_us() - t0;
    return ret;
}

/* Everything the encoder was opened with; a different key on the next segment means reopen. */
static void encoder_key(Segment *s, const AVFrame *f, char *key, size_t n)
{
    const VideoOpts *v = &s->q->video;
    AVRational fr = av_buffersink_get_frame_rate(s->sink), sar = av_buffersink_get_sample_aspect_ratio(s->sink);
    snprintf(key, n, "%dx%d/%d sar=%d:%d fr=%d/%d tb=%d/%d %s %s crf=%lld b=%lld max=%lld buf=%lld th=%lld col=%d,%d,%d,%d,%d",
             av_buffersink_get_w(s->sink), av_buffersink_get_h(s->sink), av_buffersink_get_format(s->sink), sar.num, sar.den,
             fr.num, fr.den, s->vtb.num, s->vtb.den, v->preset, v->profile, (long long)v->crf, (long long)v->bitrate,
             (long long)v->maxrate, (long long)v->bufsize, (long long)v->threads, f->color_range, f->color_primaries,
             f->color_trc, f->colorspace, f->chroma_location);
}

/* x264 exactly as x264Args: profile, preset, yuv420p, no B-frames, one GOP per segment, no
 * scene-cut key frames, bitrate (b, maxrate, bufsize = 2 b) or crf (+ optional VBV). */
static int open_encoder(Segment *s, const AVFrame *f)
{
    const VideoOpts *v = &s->q->video;
    const AVCodec *x264 = avcodec_find_encoder_by_name("libx264");
    AVDictionary *opts = NULL;
    AVDictionaryEntry *left;
    AVCodecContext *enc;
    char key[sizeof warm.enc_key];
    int ret;
    int64_t t0;

    encoder_key(s, f, key, sizeof key);
    if (warm.enc && !strcmp(key, warm.enc_key)) return OK;
    t0 = now_us();
    avcodec_free_context(&warm.enc);
    if (!x264) return fail(s->r, E_ENGINE, "this libavcodec has no libx264");
    if (!(enc = warm.enc = avcodec_alloc_context3(x264))) return fail(s->r, E_ENGINE, "out of memory");
    enc->width = av_buffersink_get_w(s->sink);
    enc->height = av_buffersink_get_h(s->sink);
    enc->pix_fmt = av_buffersink_get_format(s->sink);
    enc->sample_aspect_ratio = av_buffersink_get_sample_aspect_ratio(s->sink);
    /* x264's rate control budgets bits per frame from the frame rate; the CLI gives it the
     * filter output's rate too (the fps filter's, when there is one). */
    enc->framerate = av_buffersink_get_frame_rate(s->sink);
    /* -enc_time_base -1: the input stream's 1/90000, so no PTS is rounded to a frame grid. */
    enc->time_base = s->vtb;
    enc->max_b_frames = 0;
    enc->gop_size = 1000;
    enc->thread_count = v->threads >= 0 ? (int)v->threads : 0;
    enc->color_range = f->color_range;
    enc->color_primaries = f->color_primaries;
    enc->color_trc = f->color_trc;
    enc->colorspace = f->colorspace;
    enc->chroma_sample_location = f->chroma_location;
    av_dict_set(&opts, "preset", v->preset, 0);
    av_dict_set(&opts, "profile", v->profile, 0);
    av_dict_set(&opts, "sc_threshold", "0", 0);
    if (v->bitrate >= 0) {
        enc->bit_rate = v->bitrate * 1000;
        enc->rc_max_rate = (v->maxrate >= 0 ? v->maxrate : v->bitrate) * 1000;
        enc->rc_buffer_size = (int)((v->bufsize >= 0 ? v->bufsize : 2 * v->bitrate) * 1000);
    } else {
        av_dict_set_int(&opts, "crf", v->crf >= 0 ? v->crf : 23, 0);
        if (v->maxrate >= 0) {
            enc->rc_max_rate = v->maxrate * 1000;
            enc->rc_buffer_size = (int)((v->bufsize >= 0 ? v->bufsize : 2 * v->maxrate) * 1000);
        }
    }
    /* A reused encoder is told to open each segment with an IDR (pict_type I), and this makes
     * that an IDR, not just an I frame a decoder could not start from. */
    if (cfg.encoder_mode == ENC_REUSE) av_dict_set(&opts, "forced-idr", "1", 0);
    ret = avcodec_open2(enc, x264, &opts);
    left = av_dict_get(opts, "", NULL, AV_DICT_IGNORE_SUFFIX);
    av_dict_free(&opts);
    if (ret < 0) return fail(s->r, E_ENGINE, "cannot open libx264: %s", averr(ret));
    if (left) return fail(s->r, E_ENGINE, "libx264 does not know the option %s", left->key);
    if (cfg.encoder_mode == ENC_REUSE && !(x264->capabilities & AV_CODEC_CAP_ENCODER_FLUSH))
        return fail(s->r, E_ENGINE, "this libx264 cannot be flushed; use --encoder reopen");
    av_strlcpy(warm.enc_key, key, sizeof warm.enc_key);
    s->us_encoder_open += now_us() - t0;
    return OK;
}

static int receive_packets(Segment *s)
{
    AVPacket *pkt = av_packet_alloc();
    int ret;
    if (!pkt) return fail(s->r, E_ENGINE, "out of memory");
    while ((ret = avcodec_receive_packet(warm.enc, pkt)) >= 0) {
        ret = keep_packet(s, pkt, 0, warm.enc->time_base);
        av_packet_unref(pkt);
        if (ret) break;
        s->video_frames++;
    }
    av_packet_free(&pkt);
    if (s->r->code) return s->r->code;
    if (ret != AVERROR(EAGAIN) && ret != AVERROR_EOF) return fail(s->r, E_ENGINE, "libx264 failed: %s", averr(ret));
    return OK;
}

static int encode(Segment *s, AVFrame *f)
{
    int ret = avcodec_send_frame(warm.enc, f);
    if (ret < 0) return fail(s->r, E_ENGINE, "libx264 refused a frame: %s", averr(ret));
    return receive_packets(s);
}

/* Pulls what the graph has ready and encodes it; at EOF the graph has flushed everything. */
static int drain_graph(Segment *s)
{
    int ret;
    for (;;) {
        ret = av_buffersink_get_frame(s->sink, s->filtered);
        if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) return OK;
        if (ret < 0) return fail(s->r, E_ENGINE, "video filter failed: %s", averr(ret));
        /* The sink's time base is the filter's (1/fps after fps); the encoder's is the input's. */
        s->filtered->pts = av_rescale_q(s->filtered->pts, av_buffersink_get_time_base(s->sink), s->vtb);
        if (!warm.enc || !s->first_encoded) {
            if (open_encoder(s, s->filtered)) return s->r->code;
        }
        /* Only a reused encoder needs telling; a fresh one starts with an IDR by itself, and
         * leaving pict_type alone keeps that path identical to the CLI's. */
        s->filtered->pict_type = (cfg.encoder_mode == ENC_REUSE && !s->first_encoded) ? AV_PICTURE_TYPE_I : AV_PICTURE_TYPE_NONE;
        s->first_encoded = 1;
        ret = encode(s, s->filtered);
        av_frame_unref(s->filtered);
        if (ret) return ret;
    }
}

static int filter_frame(Segment *s, AVFrame *f)
{
    int ret;
    if (check_size(s, f->width, f->height)) return s->r->code;
    if (!s->graph) {
        if (build_graph(s, f)) return s->r->code;
    } else if (f->width != s->gw || f->height != s->gh || f->format != s->gfmt) {
        /* The CLI would rebuild its graph mid-stream; a segment is one GOP from one encoder, so a
         * size change inside it means a damaged or spliced segment. */
        return fail(s->r, E_INPUT, "picture size or format changed inside the segment");
    }
    f->pts = f->best_effort_timestamp; /* what the CLI feeds its filters */
    if ((ret = av_buffersrc_add_frame(s->src, f)) < 0) return fail(s->r, E_ENGINE, "video filter refused a frame: %s", averr(ret));
    return drain_graph(s);
}

/*
 * pkt NULL drains the decoder: every frame of the segment comes out now, none waits for the next.
 * Damage is concealed and counted, as the ffmpeg CLI does, not fatal: on a live path a picture
 * with a smeared macroblock (a lost SRT packet, a bad slice) costs viewers far less than a missing
 * segment, which delivery can only skip behind a discontinuity. A segment of which not one picture
 * decodes is still refused (end_video), so unusable input dead-letters at once.
 */
static int decode(Segment *s, AVPacket *pkt)
{
    int ret = avcodec_send_packet(warm.dec, pkt);
    if (ret == AVERROR(ENOMEM)) return fail(s->r, E_ENGINE, "out of memory while decoding");
    if (ret < 0 && ret != AVERROR_EOF) {
        s->decode_errors++;
        return OK;
    }
    for (;;) {
        ret = avcodec_receive_frame(warm.dec, s->frame);
        if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) return OK;
        if (ret == AVERROR(ENOMEM)) return fail(s->r, E_ENGINE, "out of memory while decoding");
        if (ret < 0) {
            s->decode_errors++;
            return OK;
        }
        if (s->frame->decode_error_flags || (s->frame->flags & AV_FRAME_FLAG_CORRUPT)) s->decode_errors++;
        ret = filter_frame(s, s->frame);
        av_frame_unref(s->frame);
        if (ret) return ret;
    }
}

static int end_video(Segment *s)
{
    int ret;
    if (decode(s, NULL)) return s->r->code;
    if (!s->graph) return fail(s->r, E_INPUT, "no video frame could be decoded");
    /* EOF through the graph: filters that buffer (fps) hand over their last frames now. */
    if ((ret = av_buffersrc_add_frame(s->src, NULL)) < 0) return fail(s->r, E_ENGINE, "cannot close the video filter: %s", averr(ret));
    if (drain_graph(s)) return s->r->code;
    if (!s->first_encoded) return fail(s->r, E_INPUT, "the video filter produced no frame");
    if (encode(s, NULL)) return s->r->code;
    if (!(s->enc_par = avcodec_parameters_alloc()) || avcodec_parameters_from_context(s->enc_par, warm.enc) < 0)
        return fail(s->r, E_ENGINE, "out of memory");
    s->enc_tb = warm.enc->time_base;
    if (cfg.encoder_mode == ENC_REUSE) {
        avcodec_flush_buffers(warm.enc);
    } else {
        avcodec_free_context(&warm.enc);
        warm.enc_key[0] = 0;
    }
    avcodec_flush_buffers(warm.dec);
    return OK;
}

static int write_output(Segment *s, WriteBuf *wb)
{
    AVFormatContext *out = NULL;
    AVIOContext *io = NULL;
    uint8_t *iobuf = NULL;
    int ret;
    if ((ret = avformat_alloc_output_context2(&out, NULL, "mpegts", NULL)) < 0) return fail(s->r, E_ENGINE, "no mpegts muxer: %s", averr(ret));
    /* -muxdelay 0 -muxpreload 0: otherwise every PTS moves 1.4 s later at each hop.
     * -avoid_negative_ts disabled: a first segment's AAC priming sits just below 0 and must
     * stay there rather than shift every track up. */
    out->max_delay = 0;
    out->avoid_negative_ts = AVFMT_AVOID_NEG_TS_DISABLED;
    if (s->vi >= 0) {
        AVStream *st = avformat_new_stream(out, NULL);
        if (!st) goto oom;
        if (s->q->video.copy) ret = avcodec_parameters_copy(st->codecpar, s->in->streams[s->vi]->codecpar);
        else ret = avcodec_parameters_copy(st->codecpar, s->enc_par);
        if (ret < 0) goto oom;
        st->codecpar->codec_tag = 0;
        st->time_base = s->q->video.copy ? s->vtb : s->enc_tb;
    }
    if (s->ai >= 0) {
        AVStream *st = avformat_new_stream(out, NULL);
        if (!st || avcodec_parameters_copy(st->codecpar, s->in->streams[s->ai]->codecpar) < 0) goto oom;
        st->codecpar->codec_tag = 0;
        st->time_base = s->in->streams[s->ai]->time_base;
    }
    if (!(iobuf = av_malloc(IO_BUFFER)) || !(io = avio_alloc_context(iobuf, IO_BUFFER, 1, wb, NULL, write_cb, NULL))) goto oom;
    iobuf = NULL;
    out->pb = io;
    out->flags |= AVFMT_FLAG_CUSTOM_IO;
    if ((ret = avformat_write_header(out, NULL)) < 0) {
        fail(s->r, E_ENGINE, "cannot start the output: %s", averr(ret));
        goto done;
    }
    int64_t last_dts[2] = {AV_NOPTS_VALUE, AV_NOPTS_VALUE};
    for (int i = 0; i < s->nout; i++) {
        AVPacket *p = s->out[i].pkt;
        av_packet_rescale_ts(p, s->out[i].tb, out->streams[p->stream_index]->time_base);
        /* A copied packet whose timestamps a damaged PES header garbled (none, or not after the
         * one before) is dropped, where the CLI would bend it into place: either way a packet
         * is lost, and a bent one would sit at the wrong time. */
        if (p->dts == AV_NOPTS_VALUE) p->dts = p->pts;
        if (p->dts == AV_NOPTS_VALUE || p->pts == AV_NOPTS_VALUE ||
            (last_dts[p->stream_index] != AV_NOPTS_VALUE && p->dts <= last_dts[p->stream_index])) {
            s->decode_errors++;
            continue;
        }
        last_dts[p->stream_index] = p->dts;
        /* interleaved: the muxer orders audio and video by DTS, as the CLI's output is. */
        if ((ret = av_interleaved_write_frame(out, p)) < 0) {
            fail(s->r, E_INPUT, "cannot write a packet (timestamps out of order?): %s", averr(ret));
            goto done;
        }
    }
    if ((ret = av_write_trailer(out)) < 0) fail(s->r, E_ENGINE, "cannot finish the output: %s", averr(ret));
    avio_flush(io);
    goto done;
oom:
    fail(s->r, E_ENGINE, "cannot set up the output streams");
done:
    if (io) av_freep(&io->buffer);
    avio_context_free(&io);
    av_free(iobuf);
    avformat_free_context(out);
    return s->r->code;
}

static void free_segment(Segment *s)
{
    for (int i = 0; i < s->nout; i++) av_packet_free(&s->out[i].pkt);
    av_free(s->out);
    avcodec_parameters_free(&s->enc_par);
    avfilter_graph_free(&s->graph);
    av_frame_free(&s->frame);
    av_frame_free(&s->filtered);
    avformat_close_input(&s->in);
    if (s->in_io) av_freep(&s->in_io->buffer);
    avio_context_free(&s->in_io);
}

static int transform(const Request *q, const uint8_t *data, size_t size, WriteBuf *wb, Result *r, Segment *s)
{
    ReadBuf rb = {data, size, 0};
    AVPacket *pkt = NULL;
    int ret;
    int64_t t0 = now_us();
    memset(s, 0, sizeof *s);
    s->q = q;
    s->r = r;
    s->vi = s->ai = -1;
    s->max_w = q->max_width > 0 && q->max_width < cfg.max_width ? (int)q->max_width : cfg.max_width;
    s->max_h = q->max_height > 0 && q->max_height < cfg.max_height ? (int)q->max_height : cfg.max_height;
    if (size == 0) return fail(r, E_INPUT, "empty segment");
    /* Segments are whole 188-byte TS packets; anything else was cut short on the way. */
    if (size % TS_PACKET) return fail(r, E_INPUT, "truncated MPEG-TS: %zu bytes is not a whole number of packets", size);
    if (open_input(s, &rb)) return r->code;
    s->us_open = now_us() - t0;
    if (s->vi >= 0 && !q->video.copy && open_decoder(s)) return r->code;
    if (!(pkt = av_packet_alloc()) || !(s->frame = av_frame_alloc()) || !(s->filtered = av_frame_alloc())) {
        av_packet_free(&pkt);
        return fail(r, E_ENGINE, "out of memory");
    }
    while ((ret = av_read_frame(s->in, pkt)) >= 0) {
        /* A packet the demuxer flags corrupt (a continuity gap) still goes on, as in the CLI:
         * the decoder conceals what it can, and copied audio keeps its timing. */
        if (pkt->stream_index == s->vi) {
            if (q->video.copy) {
                if (!keep_packet(s, pkt, 0, s->vtb)) s->video_frames++;
            } else {
                decode(s, pkt);
            }
        } else if (pkt->stream_index == s->ai) {
            if (!keep_packet(s, pkt, s->vi >= 0 ? 1 : 0, s->in->streams[s->ai]->time_base)) s->audio_packets++;
        }
        av_packet_unref(pkt);
        if (r->code) break;
    }
    av_packet_free(&pkt);
    if (r->code) return r->code;
    if (ret != AVERROR_EOF) return fail(r, E_INPUT, "cannot read the segment: %s", averr(ret));
    if (s->vi >= 0 && !q->video.copy && end_video(s)) return r->code;
    return write_output(s, wb);
}

/* ---- framing -------------------------------------------------------------------------------- */

/* 1 = got n bytes, 0 = EOF before the first byte, -1 = EOF or error in the middle. */
static int read_full(void *buf, size_t n)
{
    size_t got = fread(buf, 1, n, stdin);
    if (got == n) return 1;
    return got == 0 && feof(stdin) ? 0 : -1;
}

static int read_u32(uint32_t *v)
{
    uint8_t b[4];
    int ret = read_full(b, 4);
    if (ret == 1) *v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    return ret;
}

static void write_u32(uint32_t v)
{
    uint8_t b[4] = {v & 0xFF, v >> 8 & 0xFF, v >> 16 & 0xFF, v >> 24 & 0xFF};
    fwrite(b, 1, 4, stdout);
}

static void respond(const char *header, const uint8_t *payload, size_t n)
{
    write_u32((uint32_t)strlen(header));
    fputs(header, stdout);
    write_u32((uint32_t)n);
    if (n) fwrite(payload, 1, n, stdout);
    fflush(stdout);
}

static void respond_error(const Result *r)
{
    char msg[sizeof r->message * 6 + 1], header[sizeof msg + 96], *o = msg;
    for (const char *m = r->message; *m; m++) {
        unsigned char c = (unsigned char)*m;
        if (c == '"' || c == '\\') *o++ = '\\', *o++ = (char)c;
        else if (c < 0x20 || c >= 0x7F) o += sprintf(o, "\\u%04x", c); /* ASCII out: no UTF-8 to validate */
        else *o++ = (char)c;
    }
    *o = 0;
    snprintf(header, sizeof header, "{\"ok\":false,\"code\":\"%s\",\"message\":\"%s\"}", r->code == E_INPUT ? "LM_MEDIA_INPUT" : "LM_ENGINE", msg);
    respond(header, NULL, 0);
}

static int skip(size_t n)
{
    char buf[65536];
    while (n) {
        size_t k = n < sizeof buf ? n : sizeof buf;
        if (read_full(buf, k) != 1) return -1;
        n -= k;
    }
    return 0;
}

static int64_t parse_num(const char *flag, const char *s, int64_t lo, int64_t hi)
{
    char *end;
    long long v;
    errno = 0;
    v = strtoll(s ? s : "", &end, 10);
    if (!s || errno || *end || v < lo || v > hi) {
        fprintf(stderr, "lm-engine: %s needs an integer %lld..%lld\n", flag, (long long)lo, (long long)hi);
        exit(2);
    }
    return v;
}

static void parse_args(int argc, char **argv)
{
    int level = AV_LOG_ERROR;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--max-alloc")) cfg.max_alloc = (size_t)parse_num(a, v, 1 << 20, INT64_C(1) << 40);
        else if (!strcmp(a, "--max-width")) cfg.max_width = (int)parse_num(a, v, 16, 16384);
        else if (!strcmp(a, "--max-height")) cfg.max_height = (int)parse_num(a, v, 16, 16384);
        else if (!strcmp(a, "--max-segment-bytes")) cfg.max_segment = (size_t)parse_num(a, v, 1024, INT64_C(1) << 31);
        else if (!strcmp(a, "--probesize")) cfg.probesize = parse_num(a, v, 32, INT64_C(1) << 30);
        else if (!strcmp(a, "--analyzeduration")) cfg.analyzeduration = parse_num(a, v, 0, INT64_C(60000000));
        else if (!strcmp(a, "--encoder") && v && (!strcmp(v, "reopen") || !strcmp(v, "reuse"))) cfg.encoder_mode = !strcmp(v, "reuse") ? ENC_REUSE : ENC_REOPEN;
        else if (!strcmp(a, "--log-level") && v && (!strcmp(v, "error") || !strcmp(v, "warning") || !strcmp(v, "info") || !strcmp(v, "debug")))
            level = v[0] == 'e' ? AV_LOG_ERROR : v[0] == 'w' ? AV_LOG_WARNING : v[0] == 'i' ? AV_LOG_INFO : AV_LOG_DEBUG;
        else {
            fprintf(stderr, "lm-engine: unknown or incomplete option %s\n", a);
            exit(2);
        }
        i++;
    }
    av_log_set_level(level);
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    /* Bounds what a forged header (a huge picture size, a huge PES length) can make libav reserve. */
    av_max_alloc(cfg.max_alloc);
    for (;;) {
        uint32_t hlen, plen;
        char *htext;
        uint8_t *payload;
        Request q;
        Result r = {OK, ""};
        int ret = read_u32(&hlen);
        if (ret == 0) break; /* the client closed stdin between requests: a clean end */
        if (ret < 0 || hlen == 0 || hlen > MAX_HEADER_BYTES) {
            fprintf(stderr, "lm-engine: broken request framing (header length %u)\n", ret < 0 ? 0 : hlen);
            return 2;
        }
        if (!(htext = malloc(hlen)) || read_full(htext, hlen) != 1 || read_u32(&plen) != 1) {
            fprintf(stderr, "lm-engine: request ended early\n");
            return 2;
        }
        if (plen > cfg.max_segment) {
            /* The framing is intact, so skip the payload and answer: this segment is refused,
             * the engine is fine. */
            free(htext);
            if (skip(plen)) return 2;
            fail(&r, E_INPUT, "segment of %u bytes is above the %zu-byte limit", plen, cfg.max_segment);
            respond_error(&r);
            continue;
        }
        /* malloc, not av_malloc: --max-alloc bounds what libav allocates for a segment, and the
         * segment itself is bounded by --max-segment-bytes above. */
        if (!(payload = malloc(plen ? plen : 1)) || (plen && read_full(payload, plen) != 1)) {
            fprintf(stderr, "lm-engine: request payload ended early\n");
            return 2;
        }
        if (!parse_request(htext, hlen, &q, &r)) {
            WriteBuf wb = {0};
            Segment s;
            int64_t t0 = now_us();
            transform(&q, payload, plen, &wb, &r, &s);
            free_segment(&s);
            if (r.code == OK) {
                char header[512];
                snprintf(header, sizeof header,
                         "{\"ok\":true,\"videoFrames\":%d,\"audioPackets\":%d,\"decodeErrors\":%d,\"micros\":{\"total\":%lld,\"open\":%lld,\"graph\":%lld,\"encoderOpen\":%lld}}",
                         s.video_frames, s.audio_packets, s.decode_errors, (long long)(now_us() - t0), (long long)s.us_open, (long long)s.us_graph, (long long)s.us_encoder_open);
                respond(header, wb.data, wb.size);
            } else {
                /* A failed segment can leave a codec mid-stream; start the next one cold. */
                drop_warm();
                respond_error(&r);
            }
            av_free(wb.data);
        } else {
            respond_error(&r);
        }
        av_free(q.video_filter);
        free(htext);
        free(payload);
    }
    drop_warm();
    return 0;
}
