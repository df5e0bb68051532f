// emuflash: the emulated board's flash as a C block device, as a real port's
// flash driver is C (esp32.Partition, rp2.Flash). A Python block device made
// the emulator, not the firmware, a fifth of the hub's CPU per download
// block: littlefs calls it a dozen times a block.
//
//   emuflash.File(path, block_size, block_count)
//
// maps the host file (at least block_size * block_count bytes) shared, and
// serves littlefs' extended block protocol: readblocks(block, buf, off=0),
// writeblocks(block, buf, off=None), ioctl(op, arg). Every write lands in
// the file's pages at once, so a SIGKILL (a power cut) keeps every block
// littlefs already programmed, as real flash would. Erase (ioctl 6) leaves
// the bytes alone: littlefs never relies on erased contents.
//
// Out-of-range access answers -EIO, the protocol's error, rather than
// raising through littlefs.

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "py/runtime.h"
#include "py/mperrno.h"

typedef struct _emuflash_file_obj_t {
    mp_obj_base_t base;
    uint8_t *mem;
    size_t size;
    mp_int_t block_size;
    mp_int_t block_count;
} emuflash_file_obj_t;

static mp_obj_t emuflash_file_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw, const mp_obj_t *args) {
    mp_arg_check_num(n_args, n_kw, 3, 3, false);
    const char *path = mp_obj_str_get_str(args[0]);
    mp_int_t bs = mp_obj_get_int(args[1]);
    mp_int_t n = mp_obj_get_int(args[2]);
    if (bs <= 0 || n <= 0 || (size_t)n > SIZE_MAX / (size_t)bs) {
        mp_raise_ValueError(MP_ERROR_TEXT("block_size and block_count must be positive"));
    }
    size_t size = (size_t)bs * (size_t)n;
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        mp_raise_OSError(errno);
    }
    struct stat st;
    int ok = fstat(fd, &st) == 0;
    int err = errno;
    if (!ok || (size_t)st.st_size < size) {
        close(fd);
        if (!ok) {
            mp_raise_OSError(err);
        }
        mp_raise_ValueError(MP_ERROR_TEXT("flash file is smaller than block_size * block_count"));
    }
    void *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    err = errno;
    close(fd);  // the mapping keeps the file
    if (mem == MAP_FAILED) {
        mp_raise_OSError(err);
    }
    emuflash_file_obj_t *self = mp_obj_malloc(emuflash_file_obj_t, type);
    self->mem = mem;
    self->size = size;
    self->block_size = bs;
    self->block_count = n;
    return MP_OBJ_FROM_PTR(self);
}

// readblocks/writeblocks: the byte range [block * block_size + off, + len(buf))
// of the flash copied into buf or from it; -EIO when it is not all within.
static mp_obj_t emuflash_file_rw(size_t n_args, const mp_obj_t *args, bool write) {
    emuflash_file_obj_t *self = MP_OBJ_TO_PTR(args[0]);
    mp_buffer_info_t buf;
    mp_get_buffer_raise(args[2], &buf, write ? MP_BUFFER_READ : MP_BUFFER_WRITE);
    mp_int_t b = mp_obj_get_int(args[1]);
    mp_int_t o = n_args > 3 && args[3] != mp_const_none ? mp_obj_get_int(args[3]) : 0;
    if (b < 0 || b >= self->block_count || o < 0) {
        return MP_OBJ_NEW_SMALL_INT(-MP_EIO);
    }
    size_t start = (size_t)b * (size_t)self->block_size + (size_t)o;
    if (start > self->size || buf.len > self->size - start) {
        return MP_OBJ_NEW_SMALL_INT(-MP_EIO);
    }
    if (write) {
        memcpy(self->mem + start, buf.buf, buf.len);
    } else {
        memcpy(buf.buf, self->mem + start, buf.len);
    }
    return MP_OBJ_NEW_SMALL_INT(0);
}

static mp_obj_t emuflash_file_readblocks(size_t n_args, const mp_obj_t *args) {
    return emuflash_file_rw(n_args, args, false);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(emuflash_file_readblocks_obj, 3, 4, emuflash_file_readblocks);

static mp_obj_t emuflash_file_writeblocks(size_t n_args, const mp_obj_t *args) {
    return emuflash_file_rw(n_args, args, true);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(emuflash_file_writeblocks_obj, 3, 4, emuflash_file_writeblocks);

static mp_obj_t emuflash_file_ioctl(mp_obj_t self_in, mp_obj_t op_in, mp_obj_t arg_in) {
    emuflash_file_obj_t *self = MP_OBJ_TO_PTR(self_in);
    (void)arg_in;
    switch (mp_obj_get_int(op_in)) {
        case 4:  // MP_BLOCKDEV_IOCTL_BLOCK_COUNT
            return MP_OBJ_NEW_SMALL_INT(self->block_count);
        case 5:  // MP_BLOCKDEV_IOCTL_BLOCK_SIZE
            return MP_OBJ_NEW_SMALL_INT(self->block_size);
        case 1:  // init
        case 2:  // deinit
        case 3:  // sync: the pages are the file's already
        case 6:  // erase: see the top of this file
            return MP_OBJ_NEW_SMALL_INT(0);
        default:
            return mp_const_none;
    }
}
static MP_DEFINE_CONST_FUN_OBJ_3(emuflash_file_ioctl_obj, emuflash_file_ioctl);

static const mp_rom_map_elem_t emuflash_file_locals_dict_table[] = {
    { MP_ROM_QSTR(MP_QSTR_readblocks), MP_ROM_PTR(&emuflash_file_readblocks_obj) },
    { MP_ROM_QSTR(MP_QSTR_writeblocks), MP_ROM_PTR(&emuflash_file_writeblocks_obj) },
    { MP_ROM_QSTR(MP_QSTR_ioctl), MP_ROM_PTR(&emuflash_file_ioctl_obj) },
};
static MP_DEFINE_CONST_DICT(emuflash_file_locals_dict, emuflash_file_locals_dict_table);

MP_DEFINE_CONST_OBJ_TYPE(
    emuflash_file_type,
    MP_QSTR_File,
    MP_TYPE_FLAG_NONE,
    make_new, emuflash_file_make_new,
    locals_dict, &emuflash_file_locals_dict
    );

static const mp_rom_map_elem_t emuflash_module_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_emuflash) },
    { MP_ROM_QSTR(MP_QSTR_File), MP_ROM_PTR(&emuflash_file_type) },
};
static MP_DEFINE_CONST_DICT(emuflash_module_globals, emuflash_module_globals_table);

const mp_obj_module_t emuflash_user_cmodule = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&emuflash_module_globals,
};

MP_REGISTER_MODULE(MP_QSTR_emuflash, emuflash_user_cmodule);
