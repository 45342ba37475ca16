/* The library's internal names in the double build. Under TG_DOUBLE each name below
   becomes its tg_f64_ twin, so that the double library's symbols differ from the
   float library's (both link into one program; a program compiled for one
   precision and linked to the other fails at link time). Written by
   tools/gen_f64_names.py; do not edit. */
#ifndef TG_CORE_F64_NAMES_H
#define TG_CORE_F64_NAMES_H

#define tg_activation_ops tg_f64_activation_ops
#define tg_arena_alloc tg_f64_arena_alloc
#define tg_arena_release tg_f64_arena_release
#define tg_arena_rewind tg_f64_arena_rewind
#define tg_arena_used tg_f64_arena_used
#define tg_arith_ops tg_f64_arith_ops
#define tg_axis tg_f64_axis
#define tg_background_post tg_f64_background_post
#define tg_background_wait tg_f64_background_wait
#define tg_bcast_each tg_f64_bcast_each
#define tg_bcast_init tg_f64_bcast_init
#define tg_broadcast_shape tg_f64_broadcast_shape
#define tg_builtin_op_table_count tg_f64_builtin_op_table_count
#define tg_builtin_op_tables tg_f64_builtin_op_tables
#define tg_dims_str tg_f64_dims_str
#define tg_gemm tg_f64_gemm
#define tg_gemm_ksplit tg_f64_gemm_ksplit
#define tg_gemm_profile tg_f64_gemm_profile
#define tg_gemm_profile_calls tg_f64_gemm_profile_calls
#define tg_gemm_profile_seconds tg_f64_gemm_profile_seconds
#define tg_idx_open_raw tg_f64_idx_open_raw
#define tg_idx_read tg_f64_idx_read
#define tg_io_is_gzip tg_f64_io_is_gzip
#define tg_io_over_limit tg_f64_io_over_limit
#define tg_io_pread tg_f64_io_pread
#define tg_json_check tg_f64_json_check
#define tg_json_string tg_f64_json_string
#define tg_linalg_ops tg_f64_linalg_ops
#define tg_loss_ops tg_f64_loss_ops
#define tg_null_input tg_f64_null_input
#define tg_numel tg_f64_numel
#define tg_parallel_run tg_f64_parallel_run
#define tg_param_grad_home tg_f64_param_grad_home
#define tg_params_check tg_f64_params_check
#define tg_params_swap tg_f64_params_swap
#define tg_reduce_broadcast_add tg_f64_reduce_broadcast_add
#define tg_reduce_ops tg_f64_reduce_ops
#define tg_set_error tg_f64_set_error
#define tg_shape_bcast tg_f64_shape_bcast
#define tg_shape_ops tg_f64_shape_ops
#define tg_shape_same tg_f64_shape_same
#define tg_src_at_end tg_f64_src_at_end
#define tg_src_close tg_f64_src_close
#define tg_src_file tg_f64_src_file
#define tg_src_fill tg_f64_src_fill
#define tg_src_left tg_f64_src_left
#define tg_src_mem tg_f64_src_mem
#define tg_src_read tg_f64_src_read
#define tg_src_read_exact tg_f64_src_read_exact
#define tg_src_read_new tg_f64_src_read_new
#define tg_src_start tg_f64_src_start
#define tg_tape_set_error tg_f64_tape_set_error
#define tg_tape_try_alloc tg_f64_tape_try_alloc
#define tg_tensor_alloc tg_f64_tensor_alloc
#define tg_threads_count tg_f64_threads_count
#define tg_utf8_invalid_at tg_f64_utf8_invalid_at

#endif
