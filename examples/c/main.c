/* sprig C API example: runs a model embedded as a C array inside a static arena, checks the
 * output against expected values, and exercises the error paths.
 *
 * Build (capi/tests/c_example.rs does this with a freshly converted model):
 *   cargo build --release -p sprig-capi
 *   cc -std=c11 -O2 -DSPRIG_STD -I include -I <dir with model_data.h> examples/c/main.c \
 *      target/release/libsprig_capi.a -lpthread -ldl -lm -o sprig-example
 *   ./sprig-example [model.sprig]
 *
 * model_data.h (generated) defines:
 *   sprig_example_model[]      the .sprig bytes, _Alignas(64)
 *   SPRIG_EXAMPLE_ARENA_SIZE   sprig_model_arena_size() of that model
 *   sprig_example_input[], sprig_example_expected[], and their lengths (floats), and
 *   SPRIG_EXAMPLE_TOLERANCE
 * With an argument, the model is also opened from that path (sprig_model_open, std builds).
 * Prints the outputs one per line ("out[i] = v") and exits 0 only if every check passes. */
#include <math.h>
#include <stdalign.h>
#include <stdio.h>
#include <string.h>

#include "sprig.h"
#include "model_data.h"

/* Static storage: nothing in this program (or in sprig) calls malloc. */
static sprig_model model;
static sprig_session session;
static alignas(64) unsigned char arena[SPRIG_EXAMPLE_ARENA_SIZE];
static float output[sprig_example_expected_len];

static int failures = 0;

static void expect(int cond, const char *what) {
    if (!cond) {
        fprintf(stderr, "FAILED: %s\n", what);
        failures++;
    }
}

static void print_model_error(const sprig_model *m) {
    char msg[256];
    sprig_model_last_error(m, msg, sizeof msg);
    fprintf(stderr, "  detail: %s\n", msg);
}

static void print_session_error(const sprig_session *s) {
    char msg[256];
    sprig_session_last_error(s, msg, sizeof msg);
    fprintf(stderr, "  detail: %s\n", msg);
}

/* Misuse must give typed errors, never a crash. */
static void check_error_paths(void) {
    static sprig_model bad;
    static sprig_session bad_session;
    static alignas(64) unsigned char copy[sizeof sprig_example_model + 64];
    char msg[256];

    expect(sprig_model_load(NULL, sprig_example_model, sizeof sprig_example_model) == SPRIG_ERR_NULL_POINTER,
           "NULL model storage");
    expect(sprig_model_load(&bad, NULL, 10) == SPRIG_ERR_NULL_POINTER, "NULL model bytes");
    memcpy(copy + 1, sprig_example_model, sizeof sprig_example_model);
    expect(sprig_model_load(&bad, copy + 1, sizeof sprig_example_model) == SPRIG_ERR_MISALIGNED,
           "misaligned model bytes");
    expect(sprig_model_last_error(&bad, msg, sizeof msg) > 0 && strstr(msg, "aligned") != NULL,
           "misalignment detail");
    expect(sprig_model_load(&bad, sprig_example_model, 100) == SPRIG_ERR_INVALID_MODEL, "truncated model");
    expect(sprig_model_last_error(&bad, NULL, 0) > 0, "truncation detail length");
    expect(sprig_model_arena_size(&bad) == 0, "a failed load holds no model");

    /* An arena one byte short. */
    expect(sprig_session_new(&model, NULL, arena, SPRIG_EXAMPLE_ARENA_SIZE - 1, &bad_session) ==
               SPRIG_ERR_ARENA_TOO_SMALL,
           "arena too small");
    expect(sprig_session_new(&model, NULL, arena + 8, SPRIG_EXAMPLE_ARENA_SIZE - 64, &bad_session) ==
               SPRIG_ERR_MISALIGNED,
           "misaligned arena");
    sprig_session_options opts = sprig_session_options_default();
    opts.num_threads = 4;
#ifdef SPRIG_STD
    /* Extra threads need the larger arena (one worker scratch per extra thread). */
    if (sprig_model_arena_size_for_threads(&model, 4) > SPRIG_EXAMPLE_ARENA_SIZE) {
        expect(sprig_session_new(&model, &opts, arena, SPRIG_EXAMPLE_ARENA_SIZE, &bad_session) ==
                   SPRIG_ERR_ARENA_TOO_SMALL,
               "4 threads in a one-thread arena");
    }
#else
    expect(sprig_session_new(&model, &opts, arena, SPRIG_EXAMPLE_ARENA_SIZE, &bad_session) == SPRIG_ERR_UNSUPPORTED,
           "threads are rejected without std, not ignored");
#endif

    /* Wrong byte length and wrong count at run time. */
    const void *ins[1] = {sprig_example_input};
    size_t in_bytes[1] = {sizeof sprig_example_input - 4};
    void *outs[1] = {output};
    size_t out_bytes[1] = {sizeof output};
    expect(sprig_session_run(&session, ins, in_bytes, 1, outs, out_bytes, 1) == SPRIG_ERR_LENGTH_MISMATCH,
           "short input");
    expect(sprig_session_last_error(&session, msg, sizeof msg) > 0, "length detail");
    expect(sprig_session_run(&session, ins, in_bytes, 0, outs, out_bytes, 1) == SPRIG_ERR_IO_COUNT, "no inputs");
    in_bytes[0] = sizeof sprig_example_input;
    outs[0] = (char *)output + 1;
    out_bytes[0] = sizeof output - 4;
    expect(sprig_session_run(&session, ins, in_bytes, 1, outs, out_bytes, 1) == SPRIG_ERR_MISALIGNED,
           "misaligned output");
    expect(strcmp(sprig_status_message(SPRIG_ERR_ARENA_TOO_SMALL), "the arena is smaller than the model needs") == 0,
           "status message");
    expect(strcmp(sprig_status_message(12345), "unknown status") == 0, "unknown status message");
}

int main(int argc, char **argv) {
    sprig_status st = sprig_model_load(&model, sprig_example_model, sizeof sprig_example_model);
    if (st != SPRIG_OK) {
        fprintf(stderr, "sprig_model_load: %s\n", sprig_status_message(st));
        print_model_error(&model);
        return 2;
    }
    expect(sprig_model_arena_size(&model) == SPRIG_EXAMPLE_ARENA_SIZE, "arena size");
    expect(sprig_model_num_inputs(&model) == 1 && sprig_model_num_outputs(&model) == 1, "I/O counts");

    sprig_io_info in_info, out_info;
    expect(sprig_model_io_info(&model, SPRIG_INPUT, 0, &in_info) == SPRIG_OK, "input info");
    expect(sprig_model_io_info(&model, SPRIG_OUTPUT, 0, &out_info) == SPRIG_OK, "output info");
    expect(sprig_model_io_info(&model, SPRIG_OUTPUT, 1, &out_info) == SPRIG_ERR_INVALID_ARGUMENT, "output #1");
    expect(sprig_model_io_info(&model, SPRIG_OUTPUT, 0, &out_info) == SPRIG_OK, "output info again");
    expect(in_info.dtype == SPRIG_DTYPE_F32 && in_info.num_bytes == sizeof sprig_example_input, "input dtype/bytes");
    expect(out_info.num_elements == sprig_example_expected_len, "output elements");
    char name[64];
    size_t name_len = 0;
    expect(sprig_model_io_name(&model, SPRIG_INPUT, 0, name, sizeof name, &name_len) == SPRIG_OK &&
               name_len == in_info.name_len && strncmp(name, in_info.name, name_len) == 0 && name[name_len] == 0,
           "input name copy");
    expect(sprig_model_io_name(&model, SPRIG_INPUT, 0, name, name_len, NULL) == SPRIG_ERR_BUFFER_TOO_SMALL,
           "name buffer without room for the NUL");
    printf("input '%.*s' rank %u dims", (int)in_info.name_len, in_info.name, in_info.rank);
    for (unsigned i = 0; i < in_info.rank; i++) printf(" %zu", in_info.dims[i]);
    printf("; arena %zu bytes\n", sprig_model_arena_size(&model));

    st = sprig_session_new(&model, NULL, arena, sizeof arena, &session);
    if (st != SPRIG_OK) {
        fprintf(stderr, "sprig_session_new: %s\n", sprig_status_message(st));
        print_session_error(&session);
        return 2;
    }
    printf("kernels: %s\n", sprig_session_isa(&session));

    const void *ins[1] = {sprig_example_input};
    size_t in_bytes[1] = {sizeof sprig_example_input};
    void *outs[1] = {output};
    size_t out_bytes[1] = {sizeof output};
    /* Twice: a session is reusable and the second run must give the same answer. */
    for (int round = 0; round < 2; round++) {
        memset(output, 0, sizeof output);
        st = sprig_session_run(&session, ins, in_bytes, 1, outs, out_bytes, 1);
        if (st != SPRIG_OK) {
            fprintf(stderr, "sprig_session_run: %s\n", sprig_status_message(st));
            print_session_error(&session);
            return 2;
        }
        float max_err = 0.0f;
        for (size_t i = 0; i < sprig_example_expected_len; i++) {
            float e = fabsf(output[i] - sprig_example_expected[i]);
            if (!(e <= max_err)) max_err = e; /* NaN propagates into max_err */
        }
        printf("round %d: max |out - expected| = %g\n", round, max_err);
        expect(max_err <= SPRIG_EXAMPLE_TOLERANCE, "output matches the expected values");
    }
    for (size_t i = 0; i < sprig_example_expected_len; i++) printf("out[%zu] = %.9g\n", i, output[i]);

    check_error_paths();

#if defined(SPRIG_STD) && defined(SPRIG_EXAMPLE_ARENA_SIZE_2T)
    {
        /* Two threads: a worker thread started with the session, joined by sprig_session_free. */
        static sprig_session session2;
        static alignas(64) unsigned char arena2[SPRIG_EXAMPLE_ARENA_SIZE_2T];
        static float output2[sprig_example_expected_len];
        expect(sprig_model_arena_size_for_threads(&model, 2) == SPRIG_EXAMPLE_ARENA_SIZE_2T, "arena for 2 threads");
        expect(sprig_model_arena_size_for_threads(&model, 1) == SPRIG_EXAMPLE_ARENA_SIZE, "arena for 1 thread");
        sprig_session_options o2 = sprig_session_options_default();
        o2.num_threads = 2;
        st = sprig_session_new(&model, &o2, arena2, sizeof arena2, &session2);
        expect(st == SPRIG_OK, "session with 2 threads");
        if (st == SPRIG_OK) {
            void *outs2[1] = {output2};
            expect(sprig_session_run(&session2, ins, in_bytes, 1, outs2, out_bytes, 1) == SPRIG_OK, "run with 2 threads");
            float max_err = 0.0f;
            for (size_t i = 0; i < sprig_example_expected_len; i++) {
                float e = fabsf(output2[i] - sprig_example_expected[i]);
                if (!(e <= max_err)) max_err = e;
            }
            printf("2 threads: max |out - expected| = %g\n", max_err);
            expect(max_err <= SPRIG_EXAMPLE_TOLERANCE, "2-thread output matches the expected values");
            sprig_session_free(&session2);
        }
    }
#endif

#ifdef SPRIG_STD
    if (argc > 1) {
        static sprig_model file_model;
        st = sprig_model_open(&file_model, argv[1]);
        expect(st == SPRIG_OK, "sprig_model_open");
        expect(sprig_model_arena_size(&file_model) == SPRIG_EXAMPLE_ARENA_SIZE, "opened model's arena size");
        sprig_model_free(&file_model);
        expect(sprig_model_open(&file_model, "/nonexistent/model.sprig") == SPRIG_ERR_IO, "missing file");
    }
#else
    (void)argc;
    (void)argv;
#endif

    sprig_session_free(&session);
    sprig_model_free(&model);
    /* Freed storage is recognised, not reused. */
    expect(sprig_model_arena_size(&model) == 0, "freed model");
    expect(sprig_session_run(&session, ins, in_bytes, 1, outs, out_bytes, 1) == SPRIG_ERR_INVALID_HANDLE,
           "run on a freed session");

    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("all checks passed\n");
    return 0;
}
