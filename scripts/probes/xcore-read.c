// Cross-vCPU read probe: how fast one CPU streams a buffer that the other CPU has just written,
// against one it wrote itself. On a VM this tells whether the two vCPUs currently share a
// last-level cache (ratio ~1) or not (ratio 2-4: every line comes over the fabric).
// Build and run (x86_64 with AVX):
//   gcc -O2 -mavx2 -pthread scripts/probes/xcore-read.c -o /tmp/xcore-read && /tmp/xcore-read 2097152
// Prints the median over 101 rounds of both read rates and their ratio.
#define _GNU_SOURCE
#include <immintrin.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ROUNDS 101
static float *buf;
static size_t n;
static volatile int cmd; // 0 idle, 1 write the buffer, 2 quit (set by the main thread)
static volatile float sink;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}
static void pin(int cpu) {
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(cpu, &s);
    pthread_setaffinity_np(pthread_self(), sizeof s, &s);
}
static void fill(void) {
    for (size_t i = 0; i < n; i += 8) _mm256_store_ps(buf + i, _mm256_set1_ps((float)i));
}
// Four independent sums so the loop is bound by the loads, not by one add chain.
static float sum(void) {
    __m256 a = _mm256_setzero_ps(), b = a, c = a, d = a;
    for (size_t i = 0; i < n; i += 32) {
        a = _mm256_add_ps(a, _mm256_load_ps(buf + i));
        b = _mm256_add_ps(b, _mm256_load_ps(buf + i + 8));
        c = _mm256_add_ps(c, _mm256_load_ps(buf + i + 16));
        d = _mm256_add_ps(d, _mm256_load_ps(buf + i + 24));
    }
    float f[8];
    _mm256_storeu_ps(f, _mm256_add_ps(_mm256_add_ps(a, b), _mm256_add_ps(c, d)));
    return f[0];
}
static void *other(void *arg) {
    (void)arg;
    pin(1);
    for (;;) {
        while (cmd == 0) {}
        if (cmd == 2) return NULL;
        fill();
        cmd = 0;
    }
}
static int cmp(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}
int main(int argc, char **argv) {
    size_t bytes = argc > 1 ? strtoul(argv[1], NULL, 10) : 2u << 20;
    bytes = (bytes + 127) / 128 * 128;
    n = bytes / 4;
    buf = aligned_alloc(64, bytes);
    memset(buf, 0, bytes);
    pin(0);
    pthread_t t;
    pthread_create(&t, NULL, other, NULL);
    double own[ROUNDS], cross[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        fill();
        double t0 = now();
        sink = sum();
        own[r] = now() - t0;
        cmd = 1;
        while (cmd) {}
        t0 = now();
        sink = sum();
        cross[r] = now() - t0;
    }
    cmd = 2;
    pthread_join(t, NULL);
    qsort(own, ROUNDS, sizeof own[0], cmp);
    qsort(cross, ROUNDS, sizeof cross[0], cmp);
    double o = own[ROUNDS / 2], c = cross[ROUNDS / 2];
    printf("%zu KiB: read after own write %.1f GB/s, after the other CPU's write %.1f GB/s (time ratio %.2f)\n",
           bytes / 1024, bytes / o / 1e9, bytes / c / 1e9, c / o);
    return 0;
}
