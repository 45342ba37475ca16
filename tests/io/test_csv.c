/* CSV files (tg_csv_read, tg_csv_dataset): well-formed files in every
   RFC 4180 form read to the exact values, and files malformed in every way
   a user makes them refused with a message naming the line and the
   column: a missing field, an extra one, text in a number, an empty
   field, a non-finite number, a stray quote, a quote never closed, an
   empty file, a record over the line limit (a 16 MiB line, bounded by a
   limit of 1 MiB, as a 1 GB line would be), a file over tg_io_max_bytes,
   a class label that is not one, a target column that is not there. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tapegrad.h>

static tg_csv_table *read_str(const char *text, const tg_csv_opts *o)
{
    return tg_csv_read_mem(text, strlen(text), o);
}

/* The text must be refused, with every one of the pieces in the message. */
static void expect_refused(const char *text, const tg_csv_opts *o, const char *const *pieces)
{
    tg_csv_table *t = read_str(text, o);
    cr_expect_null(t, "accepted: %s", text);
    tg_csv_free(t);
    for (int i = 0; pieces[i]; i++)
        cr_expect(strstr(tg_last_error(), pieces[i]) != NULL, "'%s' not in: %s", pieces[i],
                  tg_last_error());
}

Test(csv, every_form_of_a_good_file)
{
    /* a BOM, a quoted header name with a comma and a line break, CRLF,
       spaces around fields, an empty line, quoted numbers, exponents */
    const char *text = "\xEF\xBB\xBF" "a,\"b, \"\"the\"\"\nsecond\",c\r\n"
                       " 1.5 , -2,3e2\r\n"
                       "\r\n"
                       "\"4\",5.25,\"-0.125\"\n"
                       "7,8,9";
    tg_csv_table *t = read_str(text, NULL);
    cr_assert_not_null(t, "%s", tg_last_error());
    cr_expect_eq(t->rows, 3);
    cr_expect_eq(t->cols, 3);
    cr_expect_str_eq(t->names[0], "a");
    cr_expect_str_eq(t->names[1], "b, \"the\"\nsecond");
    cr_expect_str_eq(t->names[2], "c");
    double want[9] = {1.5, -2, 300, 4, 5.25, -0.125, 7, 8, 9};
    for (int i = 0; i < 9; i++) cr_expect(t->values[i] == want[i], "value %d: %g", i, t->values[i]);
    tg_csv_free(t);

    /* no header, ';' delimited */
    tg_csv_opts o = tg_csv_defaults();
    o.header = false;
    o.delimiter = ';';
    t = read_str("1;2\n3;4\n", &o);
    cr_assert_not_null(t, "%s", tg_last_error());
    cr_expect(t->rows == 2 && t->cols == 2 && t->names == NULL && t->values[3] == 4);
    tg_csv_free(t);

    /* a header alone: no rows */
    t = read_str("x,y\n", NULL);
    cr_assert_not_null(t, "%s", tg_last_error());
    cr_expect(t->rows == 0 && t->cols == 2);
    tg_csv_free(t);
}

Test(csv, malformed_files_are_refused_naming_line_and_column)
{
    const char *hdr = "sepal,petal,species\n";
    char buf[256];
    /* a missing field */
    snprintf(buf, sizeof buf, "%s1,2,0\n3,4\n", hdr);
    expect_refused(buf, NULL,
                   (const char *[]){"<memory>", "line 3", "2 fields, expected 3",
                                    "column 3 ('species') is missing", NULL});
    /* one field too many */
    snprintf(buf, sizeof buf, "%s1,2,0\n3,4,1,9\n", hdr);
    expect_refused(buf, NULL, (const char *[]){"line 3", "more fields than the 3", NULL});
    /* text in a number */
    snprintf(buf, sizeof buf, "%s1,2,0\n3,abc,1\n", hdr);
    expect_refused(buf, NULL,
                   (const char *[]){"line 3, column 2 ('petal'): 'abc' is not a number", NULL});
    /* a number with text after it */
    snprintf(buf, sizeof buf, "%s1,2.5x,0\n", hdr);
    expect_refused(buf, NULL, (const char *[]){"line 2, column 2", "'2.5x'", NULL});
    /* an empty field */
    snprintf(buf, sizeof buf, "%s1,,0\n", hdr);
    expect_refused(buf, NULL, (const char *[]){"line 2, column 2 ('petal'): the field is empty",
                                               NULL});
    /* not finite */
    snprintf(buf, sizeof buf, "%s1,nan,0\n", hdr);
    expect_refused(buf, NULL, (const char *[]){"line 2, column 2", "not a finite number", NULL});
    snprintf(buf, sizeof buf, "%s1,1e999,0\n", hdr);
    expect_refused(buf, NULL, (const char *[]){"'1e999' is not a finite number", NULL});
    /* a stray quote in an unquoted field, text after a closing quote */
    snprintf(buf, sizeof buf, "%s1,2,0\n3,4\"5,1\n", hdr);
    expect_refused(buf, NULL, (const char *[]){"line 3, column 2", "quote", NULL});
    snprintf(buf, sizeof buf, "%s1,\"2\"x,0\n", hdr);
    expect_refused(buf, NULL, (const char *[]){"line 2, column 2", "quote", NULL});
    /* a quote never closed: the error is at the end, on the last line */
    snprintf(buf, sizeof buf, "%s1,2,0\n3,\"4,1\n5,6,7\n", hdr);
    expect_refused(buf, NULL, (const char *[]){"line 5", "not closed", NULL});
    /* empty files */
    expect_refused("", NULL, (const char *[]){"empty", NULL});
    expect_refused("\n\r\n  \n", NULL, (const char *[]){"empty", NULL});
    tg_csv_opts o = tg_csv_defaults();
    o.header = false;
    expect_refused("", &o, (const char *[]){"empty (no record)", NULL});
    /* a line break inside a quoted field counts: the error is on line 4 */
    snprintf(buf, sizeof buf, "a,b\n\"\n1\",2\n3,x\n");
    expect_refused(buf, NULL, (const char *[]){"line 4, column 2 ('b')", NULL});
    /* empty lines count too */
    expect_refused("a,b\n1,2\n\n\r\n3,x\n", NULL, (const char *[]){"line 5, column 2", NULL});
    /* a bad delimiter */
    o = tg_csv_defaults();
    o.delimiter = '"';
    expect_refused("a\n", &o, (const char *[]){"delimiter", NULL});
}

/* A line far longer than the limit (16 MiB, limit 1 MiB; a 1 GB line
   would be refused the same way, after reading 1 MiB of it) is refused
   with its line number; so is a quoted field that spans lines past the
   limit. And a file over tg_io_max_bytes. */
Test(csv, records_over_the_limit_and_files_over_the_io_limit)
{
    size_t n = (size_t)16 << 20;
    char *big = malloc(n + 32);
    cr_assert_not_null(big);
    strcpy(big, "a,b\n1,2\n3,");
    size_t k = strlen(big);
    memset(big + k, '7', n);
    big[k + n] = '\0';
    tg_csv_table *t = tg_csv_read_mem(big, k + n, NULL);
    cr_expect_null(t);
    cr_expect(strstr(tg_last_error(), "line 3: a record longer than the limit of 1048576 bytes") !=
                  NULL, "%s", tg_last_error());
    /* a quoted field of many short lines */
    strcpy(big, "a\n\"");
    k = strlen(big);
    for (size_t i = 0; i < 2000; i++) memcpy(big + k + i * 4, "12\r\n", 4);
    big[k + 8000] = '\0';
    tg_csv_opts o = tg_csv_defaults();
    o.max_line = 4096;
    t = read_str(big, &o);
    cr_expect_null(t);
    cr_expect(strstr(tg_last_error(), "a record longer than the limit of 4096") != NULL, "%s",
              tg_last_error());
    cr_expect(strstr(tg_last_error(), "line 1025") != NULL, "%s", tg_last_error());
    free(big);

    uint64_t old = tg_io_set_max_bytes(32);
    const char *text = "a,b\n1,2\n3,4\n5,6\n7,8\n9,10\n11,12\n13,14\n15,16\n17,18\n19,20\n";
    t = read_str(text, NULL);
    cr_expect_null(t);
    cr_expect(strstr(tg_last_error(), "larger than the limit of 32 bytes") != NULL, "%s",
              tg_last_error());
    tg_io_set_max_bytes(old);
    t = read_str(text, NULL);
    cr_expect_not_null(t, "%s", tg_last_error());
    tg_csv_free(t);
}

static char *write_tmp(const char *text)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/tg_test_csv_%d.csv", TG_BINARY_DIR, (int)getpid());
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

Test(csv, datasets_of_a_file)
{
    const char *text = "sepal,species,petal\n5.1,0,1.4\n4.9,2,1.5\n6.3,1,6.0\n";
    char *path = write_tmp(text);
    tg_csv_opts o = tg_csv_defaults();
    o.target = "species";
    o.classify = true;
    tg_tensor_dataset *d = tg_csv_dataset(path, &o);
    cr_assert_not_null(d, "%s", tg_last_error());
    cr_expect_eq(tg_tensor_dataset_len(d), 3);
    cr_expect_eq(tg_tensor_dataset_features(d), 2);
    cr_expect_eq(tg_tensor_dataset_classes(d), 3);
    const tg_real *x = tg_tensor_dataset_x(d);
    const int64_t *y = tg_tensor_dataset_labels(d);
    cr_expect(x[0] == (tg_real)5.1 && x[1] == (tg_real)1.4 && x[4] == (tg_real)6.3);
    cr_expect(y[0] == 0 && y[1] == 2 && y[2] == 1);
    cr_expect_null(tg_tensor_dataset_y(d));
    tg_tensor_dataset_free(d);

    /* regression on the last column (the default) */
    d = tg_csv_dataset(path, NULL);
    cr_assert_not_null(d, "%s", tg_last_error());
    cr_expect_eq(tg_tensor_dataset_target_size(d), 1);
    cr_expect(tg_tensor_dataset_y(d)[2] == (tg_real)6.0);
    cr_expect_null(tg_tensor_dataset_labels(d));
    tg_tensor_dataset_free(d);

    /* no target at all */
    o = tg_csv_defaults();
    o.target_index = -2;
    d = tg_csv_dataset(path, &o);
    cr_assert_not_null(d);
    cr_expect_eq(tg_tensor_dataset_features(d), 3);
    tg_tensor_dataset_free(d);

    /* refusals: a label that is not one, a column that is not there, no file */
    o = tg_csv_defaults();
    o.target = "sepal";
    o.classify = true;
    cr_expect_null(tg_csv_dataset(path, &o));
    cr_expect(strstr(tg_last_error(), "line 2, column 1 ('sepal'): '5.1' is not a class label") !=
                  NULL, "%s", tg_last_error());
    o.target = "width";
    cr_expect_null(tg_csv_dataset(path, &o));
    cr_expect(strstr(tg_last_error(), "no column is named 'width'") != NULL, "%s",
              tg_last_error());
    remove(path);
    cr_expect_null(tg_csv_dataset(path, NULL));
    cr_expect(strstr(tg_last_error(), "cannot open") != NULL, "%s", tg_last_error());
    /* a target name two columns share: which one is meant cannot be told */
    path = write_tmp("a,label,label\n1,0,1\n2,1,0\n");
    o.target = "label";
    cr_expect_null(tg_csv_dataset(path, &o));
    cr_expect(strstr(tg_last_error(), "columns 2 and 3 are both named 'label'") != NULL, "%s",
              tg_last_error());
    remove(path);
    cr_expect_null(tg_csv_read(NULL, NULL));
}
