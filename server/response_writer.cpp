#include "response_writer.hpp"

#include <sys/sendfile.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace mempool::server {

void ResponseWriter::set_staging(char* buffer, std::size_t capacity) noexcept {
  if (staged_ > 0) return;  // the staged bytes are in the old buffer
  staging_ = buffer;
  staging_capacity_ = capacity;
  if (next_ == 0) pieces_[0] = {staging_, 0};
}

bool ResponseWriter::add(const http::Response& res, const HeadOptions& head, bool head_only, Pool& pool) noexcept {
  if (count_ != 1 || file_.length > 0) return false;  // one borrowed response at a time
  const std::string_view serialized = serialize_head(res, head, pool);
  if (serialized.data() == nullptr) return false;
  last_staged_ = 0;
  pieces_[count_++] = {const_cast<char*>(serialized.data()), serialized.size()};
  if (head_only || !has_body(res.status)) return true;
  if (res.has_file()) {
    file_ = res.file();
  } else if (!res.body().empty()) {
    pieces_[count_++] = {const_cast<char*>(res.body().data()), res.body().size()};
  }
  return true;
}

bool ResponseWriter::stage() noexcept {
  if (file_.length > 0 || next_ != 0 || count_ == 1) return false;
  std::size_t size = 0;
  for (std::size_t i = 1; i < count_; ++i) size += pieces_[i].iov_len;
  if (staging_ == nullptr || size > staging_capacity_ - staged_) return false;
  for (std::size_t i = 1; i < count_; ++i) {
    std::memcpy(staging_ + staged_, pieces_[i].iov_base, pieces_[i].iov_len);
    staged_ += pieces_[i].iov_len;
  }
  pieces_[0] = {staging_, staged_};
  count_ = 1;
  last_staged_ = size;
  return true;
}

void ResponseWriter::drop_borrowed() noexcept {
  if (next_ > 1) return;  // writing has reached it: it stays whole or the connection fails
  count_ = 1;
  file_ = {};
}

void ResponseWriter::clear() noexcept {
  pieces_ = {};
  pieces_[0] = {staging_, 0};
  next_ = 0;
  count_ = 1;
  file_ = {};
  staged_ = 0;
  last_staged_ = 0;
  bytes_sent_ = 0;
  error_ = 0;
}

std::uint64_t ResponseWriter::response_bytes() const noexcept {
  if (last_staged_ > 0) return last_staged_;
  return bytes_sent_ > staged_ ? bytes_sent_ - staged_ : 0;  // the staged bytes leave first
}

ResponseWriter::Flush ResponseWriter::flush(int fd, std::uint64_t& gather_writes) noexcept {
  if (write_pieces(fd, gather_writes) && send_file(fd)) return Flush::done;
  return error_ == EAGAIN || error_ == EWOULDBLOCK ? Flush::blocked : Flush::failed;
}

// The memory pieces in one gather write (more while the kernel takes part of them).
bool ResponseWriter::write_pieces(int fd, std::uint64_t& gather_writes) noexcept {
  for (;;) {
    while (next_ < count_ && pieces_[next_].iov_len == 0) ++next_;
    if (next_ == count_) return true;
    msghdr msg{};
    msg.msg_iov = &pieces_[next_];
    msg.msg_iovlen = count_ - next_;
    const int more = file_.length > 0 ? MSG_MORE : 0;  // head and file in one segment
    const ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL | more);
    ++gather_writes;
    if (n < 0) {
      error_ = errno;
      return false;
    }
    bytes_sent_ += static_cast<std::size_t>(n);
    for (auto left = static_cast<std::size_t>(n); left > 0;) {
      iovec& v = pieces_[next_];
      const std::size_t done = std::min(left, v.iov_len);
      v.iov_base = static_cast<char*>(v.iov_base) + done;
      v.iov_len -= done;
      left -= done;
      if (v.iov_len == 0) ++next_;
    }
  }
}

bool ResponseWriter::send_file(int fd) noexcept {
  while (file_.length > 0) {
    auto offset = static_cast<off_t>(file_.offset);
    const ssize_t n = ::sendfile(fd, file_.fd, &offset, file_.length);
    if (n <= 0) {
      error_ = n < 0 ? errno : EIO;  // 0: the file shrank under us
      return false;
    }
    file_.offset += static_cast<std::uint64_t>(n);
    file_.length -= static_cast<std::uint64_t>(n);
    bytes_sent_ += static_cast<std::uint64_t>(n);
  }
  return true;
}

}  // namespace mempool::server
