# Own test (tests/pyverbs/own): UC send/recv and RDMA write with ODP MRs on
# both sides, run by the pyverbs tier inside rdma-core's test framework.
import time
import unittest
from pyverbs.qp import QPAttr, QPInitAttr
from pyverbs.mr import MR
from tests.base import RCResources, RDMATestCase
import pyverbs.enums as e
import tests.utils as u


class OdpUC(RCResources):
    def __init__(self, dev_name, ib_port, gid_index, msg_size=1024):
        self.access = e.IBV_ACCESS_LOCAL_WRITE | e.IBV_ACCESS_ON_DEMAND | \
            e.IBV_ACCESS_REMOTE_WRITE
        super().__init__(dev_name=dev_name, ib_port=ib_port,
                         gid_index=gid_index, msg_size=msg_size)

    def create_mr(self):
        u.odp_supported(self.ctx, 'uc', e.IBV_ODP_SUPPORT_SEND |
                        e.IBV_ODP_SUPPORT_RECV | e.IBV_ODP_SUPPORT_WRITE)
        self.mr = MR(self.pd, self.msg_size, self.access)

    def create_qp_init_attr(self):
        return QPInitAttr(qp_type=e.IBV_QPT_UC, scq=self.cq, rcq=self.cq,
                          cap=self.create_qp_cap())

    def create_qp_attr(self):
        attr = QPAttr(port_num=self.ib_port)
        attr.qp_access_flags = self.access
        return attr


class OdpUCTestCase(RDMATestCase):
    def setUp(self):
        super().setUp()
        self.iters = 50

    def players(self, msg_size):
        self.client = OdpUC(**self.dev_info, msg_size=msg_size)
        self.server = OdpUC(**self.dev_info, msg_size=msg_size)
        self.client.pre_run(self.server.psns, self.server.qps_num)
        self.server.pre_run(self.client.psns, self.client.qps_num)
        self.server.rkey = self.client.mr.rkey
        self.server.remote_addr = self.server.raddr = self.client.mr.buf
        self.client.rkey = self.server.mr.rkey
        self.client.remote_addr = self.client.raddr = self.server.mr.buf
        return {'client': self.client, 'server': self.server,
                'iters': self.iters, 'gid_idx': self.gid_index,
                'port': self.ib_port}

    def test_odp_uc_traffic(self):
        u.traffic(**self.players(1024))

    def test_odp_uc_traffic_multi_packet(self):
        u.traffic(**self.players(3 * 4096 + 100))

    def uc_write(self, msg_size):
        """
        UC RDMA writes both ways. A UC write completes at the requester
        when it is sent, so wait for the data at the responder.
        """
        self.players(msg_size)
        op = e.IBV_WR_RDMA_WRITE
        for i in range(self.iters):
            for src, dst, ch in ((self.client, self.server, 'c'),
                                 (self.server, self.client, 's')):
                fill = chr(ord('a') + i % 20) if ch == 'c' else \
                    chr(ord('A') + i % 20)
                wr = u.get_send_elements(src, False, op)[0]
                src.mem_write(fill * msg_size, msg_size)
                u.send(src, wr, op)
                u.poll_cq(src.cq)
                deadline = time.time() + 10
                while dst.mem_read(msg_size) != (fill * msg_size).encode():
                    if time.time() > deadline:
                        self.fail(f'iter {i}: UC write of {msg_size} bytes '
                                  'did not arrive')
                    time.sleep(0.001)

    def test_odp_uc_rdma_write(self):
        self.uc_write(1024)

    def test_odp_uc_rdma_write_multi_packet(self):
        self.uc_write(3 * 4096 + 100)
