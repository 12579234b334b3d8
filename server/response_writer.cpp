#include "response_writer.hpp"

#include <sys/sendfile.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

namespace mempool::server {

bool ResponseWriter::add(const http::Response& res, const HeadOptions& head, bool head_only, Pool& pool) noexcept {
  if (count_ + 2 > max_pieces) return false;  // room for a head and a body
  const std::string_view serialized = serialize_head(res, head, pool);
  if (serialized.data() == nullptr) return false;
  pieces_[count_++] = {const_cast<char*>(serialized.data()), serialized.size()};
  if (head_only || !has_body(res.status)) return true;
  if (res.has_file()) {
    file_ = res.file();
  } else if (!res.body().empty()) {
    pieces_[count_++] = {const_cast<char*>(res.body().data()), res.body().size()};
  }
  return true;
}

ResponseWriter::Flush ResponseWriter::flush(int fd) noexcept {
  if (write_pieces(fd) && send_file(fd)) return Flush::done;
  return error_ == EAGAIN || error_ == EWOULDBLOCK ? Flush::blocked : Flush::failed;
}

// The memory pieces in one gather write (more while the kernel takes part of them).
bool ResponseWriter::write_pieces(int fd) noexcept {
  while (next_ < count_) {
    msghdr msg{};
    msg.msg_iov = &pieces_[next_];
    msg.msg_iovlen = count_ - next_;
    const int more = file_.length > 0 ? MSG_MORE : 0;  // head and file in one segment
    const ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL | more);
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
  return true;
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
