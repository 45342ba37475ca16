/* Datasets of float arrays (tg_tensor_dataset): copies of the caller's
   arrays, batches that cover an epoch once in a seeded shuffled order (the
   same as tg_dataset's for the same seed), targets of any shape or class
   labels, subsets and seeded splits, and the refusals. */
#include <criterion/criterion.h>

#include <math.h>
#include <string.h>

#include <tapegrad.h>

/* n samples of shape [2, 3] with value 100·i + k, targets [2] = (i, −i). */
static tg_tensor_dataset *make(int64_t n, bool labels)
{
    static tg_real x[50 * 6], y[50 * 2];
    static int64_t lab[50];
    for (int64_t i = 0; i < n; i++) {
        for (int k = 0; k < 6; k++) x[i * 6 + k] = (tg_real)(100 * i + k);
        y[i * 2] = (tg_real)i, y[i * 2 + 1] = (tg_real)-i;
        lab[i] = i % 4;
    }
    tg_tensor_data s = {.n = n, .x = x, .x_ndim = 2, .x_shape = {2, 3}};
    if (labels) s.labels = lab;
    else s.y = y, s.y_ndim = 1, s.y_shape[0] = 2;
    return tg_tensor_dataset_new(&s);
}

Test(tensor_dataset, batches_cover_each_epoch_once_in_a_seeded_order)
{
    tg_tensor_dataset *d = make(50, false);
    cr_assert_not_null(d, "%s", tg_last_error());
    cr_expect_eq(tg_tensor_dataset_features(d), 6);
    cr_expect_eq(tg_tensor_dataset_target_size(d), 2);
    tg_batch_opts o = tg_batch_defaults();
    o.batch_size = 8;
    o.seed = 5;
    cr_assert_eq(tg_tensor_dataset_batching(d, &o), TG_OK);
    cr_expect_eq(tg_tensor_dataset_num_batches(d), 7);
    /* a batch size near INT64_MAX is the whole set, one batch (n + batch_size − 1
       overflowed) */
    o.batch_size = INT64_MAX;
    cr_assert_eq(tg_tensor_dataset_batching(d, &o), TG_OK, "%s", tg_last_error());
    cr_expect_eq(tg_tensor_dataset_num_batches(d), 1);
    o.batch_size = 8;
    cr_assert_eq(tg_tensor_dataset_batching(d, &o), TG_OK);

    /* tg_dataset with the same seed shuffles the same way */
    uint8_t im[50], lb[50];
    for (int i = 0; i < 50; i++) im[i] = (uint8_t)i, lb[i] = 0;
    tg_dataset *ref = tg_dataset_new(im, lb, 50, 1);
    cr_assert_eq(tg_dataset_batching(ref, &o), TG_OK);

    for (int epoch = 0; epoch < 2; epoch++) {
        int seen[50] = {0}, batches = 0;
        tg_tensor_batch b;
        tg_batch rb;
        while (tg_tensor_dataset_next(d, &b)) {
            cr_assert(tg_dataset_next(ref, &rb));
            cr_expect_eq(b.epoch, epoch);
            cr_expect_eq(b.number, batches);
            cr_expect(b.x_ndim == 3 && b.x_shape[0] == b.n && b.x_shape[1] == 2 &&
                      b.x_shape[2] == 3);
            cr_expect(b.y_ndim == 2 && b.y_shape[0] == b.n && b.y_shape[1] == 2);
            cr_expect_null(b.labels);
            for (int64_t i = 0; i < b.n; i++) {
                int64_t s = b.index[i];
                cr_expect_eq(s, rb.index[i], "the same order as tg_dataset's");
                seen[s]++;
                for (int k = 0; k < 6; k++) cr_expect(b.x[i * 6 + k] == (tg_real)(100 * s + k));
                cr_expect(b.y[i * 2] == (tg_real)s && b.y[i * 2 + 1] == (tg_real)-s);
            }
            batches++;
        }
        cr_expect_not(tg_dataset_next(ref, &rb));
        cr_expect_eq(batches, 7);
        for (int i = 0; i < 50; i++) cr_expect_eq(seen[i], 1, "sample %d seen %d times", i, seen[i]);
    }
    tg_dataset_free(ref);

    /* drop_last, no shuffle, mean and std */
    o.shuffle = false;
    o.drop_last = true;
    o.mean = 1;
    o.std = 2;
    cr_assert_eq(tg_tensor_dataset_batching(d, &o), TG_OK);
    cr_expect_eq(tg_tensor_dataset_num_batches(d), 6);
    tg_tensor_batch b;
    int batches = 0;
    while (tg_tensor_dataset_next(d, &b)) {
        cr_expect_eq(b.n, 8);
        cr_expect_eq(b.index[0], 8 * batches);
        cr_expect(b.x[1] == ((tg_real)(100 * 8 * batches + 1) - 1) / 2);
        batches++;
    }
    cr_expect_eq(batches, 6);
    tg_tensor_dataset_free(d);
}

Test(tensor_dataset, labels_subsets_and_splits)
{
    tg_tensor_dataset *d = make(50, true);
    cr_assert_not_null(d);
    cr_expect_eq(tg_tensor_dataset_classes(d), 4);
    cr_expect_null(tg_tensor_dataset_y(d));
    tg_tensor_batch b;
    cr_assert(tg_tensor_dataset_next(d, &b), "the default options");
    cr_expect(b.n == 50 && b.labels && b.y == NULL && b.y_ndim == 0);
    for (int64_t i = 0; i < b.n; i++) cr_expect_eq(b.labels[i], b.index[i] % 4);

    tg_tensor_dataset *s = tg_tensor_dataset_subset(d, (const int64_t[]){7, 3, 3}, 3);
    cr_assert_not_null(s);
    cr_expect(tg_tensor_dataset_x(s)[0] == 700 && tg_tensor_dataset_x(s)[6] == 300);
    cr_expect(tg_tensor_dataset_labels(s)[0] == 3 && tg_tensor_dataset_labels(s)[2] == 3);
    tg_tensor_dataset_free(s);
    cr_expect_null(tg_tensor_dataset_subset(d, (const int64_t[]){50}, 1));
    cr_expect(strstr(tg_last_error(), "out of range") != NULL, "%s", tg_last_error());

    tg_tensor_dataset *tr, *va, *tr2, *va2;
    cr_assert_eq(tg_tensor_dataset_split(d, 0.2, 9, &tr, &va), TG_OK);
    cr_expect(tg_tensor_dataset_len(tr) == 40 && tg_tensor_dataset_len(va) == 10);
    int seen[50] = {0};
    for (int64_t i = 0; i < 40; i++) seen[(int)tg_tensor_dataset_x(tr)[i * 6] / 100]++;
    for (int64_t i = 0; i < 10; i++) seen[(int)tg_tensor_dataset_x(va)[i * 6] / 100]++;
    for (int i = 0; i < 50; i++) cr_expect_eq(seen[i], 1);
    cr_assert_eq(tg_tensor_dataset_split(d, 0.2, 9, &tr2, &va2), TG_OK);
    cr_expect(memcmp(tg_tensor_dataset_x(va), tg_tensor_dataset_x(va2), 60 * sizeof(tg_real)) == 0,
              "the same seed, the same split");
    tg_tensor_dataset_free(tr2);
    tg_tensor_dataset_free(va2);
    cr_assert_eq(tg_tensor_dataset_split(d, 0.2, 10, &tr2, &va2), TG_OK);
    cr_expect(memcmp(tg_tensor_dataset_x(va), tg_tensor_dataset_x(va2), 60 * sizeof(tg_real)) != 0,
              "another seed, another split");
    tg_tensor_dataset_free(tr2);
    tg_tensor_dataset_free(va2);
    tg_tensor_dataset_free(tr);
    tg_tensor_dataset_free(va);
    cr_expect_eq(tg_tensor_dataset_split(d, 1.5, 9, &tr, &va), TG_ERR_INVALID);
    cr_expect(tr == NULL && va == NULL);
    tg_tensor_dataset_free(d);
}

Test(tensor_dataset, refusals)
{
    tg_real x[4] = {1, 2, 3, 4};
    int64_t lab[2] = {0, -1};
    tg_real y[2] = {0, 1};
    cr_expect_null(tg_tensor_dataset_new(NULL));
    cr_expect_null(tg_tensor_dataset_new(&(tg_tensor_data){.n = 2, .x = x, .x_ndim = 0}));
    cr_expect_null(tg_tensor_dataset_new(&(tg_tensor_data){.n = 2, .x = x, .x_ndim = 1,
                                                           .x_shape = {0}}));
    cr_expect_null(tg_tensor_dataset_new(&(tg_tensor_data){.n = 2, .x = x, .x_ndim = 1,
                                                           .x_shape = {2}, .labels = lab}));
    cr_expect(strstr(tg_last_error(), "label -1 of sample 1") != NULL, "%s", tg_last_error());
    lab[1] = 1;
    cr_expect_null(tg_tensor_dataset_new(&(tg_tensor_data){.n = 2, .x = x, .x_ndim = 1,
                                                           .x_shape = {2}, .labels = lab, .y = y}));
    cr_expect(strstr(tg_last_error(), "not both") != NULL, "%s", tg_last_error());
    cr_expect_null(tg_tensor_dataset_new(&(tg_tensor_data){.n = 2, .x = x, .x_ndim = 2,
                                                           .x_shape = {1 << 30, 1 << 30}}));
    /* an empty dataset has no batch */
    tg_tensor_dataset *e = tg_tensor_dataset_new(&(tg_tensor_data){.n = 0, .x_ndim = 1,
                                                                   .x_shape = {3}});
    cr_assert_not_null(e, "%s", tg_last_error());
    tg_tensor_batch b;
    cr_expect_not(tg_tensor_dataset_next(e, &b));
    tg_batch_opts o = tg_batch_defaults();
    o.batch_size = 0;
    cr_expect_eq(tg_tensor_dataset_batching(e, &o), TG_ERR_INVALID);
    tg_tensor_dataset_free(e);
    tg_tensor_dataset_free(NULL);
}
